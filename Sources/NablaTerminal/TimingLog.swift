import Foundation
import NablaTUI

/// A debugging aid: with `NABLA_DEBUG_TIMING=FILE` in the environment, the app appends a
/// line per key and per finished job to FILE, giving the wall time from reading the key
/// (or the job's outcome) to the end of the screen update that shows it, and for jobs the
/// time since the key that started them. Off (and free) otherwise.
///
/// Lines: `key { drawn 31.2 ms (reduce 20.1 ms) [head cut: cut 9.0, sta 0.0, stats 10.3]`,
/// `job recut drawn 3.1 ms (reduce 0.4 ms), 412.5 ms after key {`.
struct TimingLog {
    private let handle: FileHandle?
    private var lastKey: (key: String, at: ContinuousClock.Instant)?
    /// What the next drawn screen shows: the event's name, a note after the time, when.
    private var pending: (name: String, note: String, at: ContinuousClock.Instant)?
    /// When the log was opened (the app's start): job lines give the time since.
    private let started = ContinuousClock.now

    init(environment: [String: String]) {
        guard let path = environment["NABLA_DEBUG_TIMING"], !path.isEmpty else {
            handle = nil
            return
        }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        handle = FileHandle(forWritingAtPath: path)
        _ = try? handle?.seekToEnd()
    }

    /// Notes an event about to be reduced.
    mutating func received(_ event: InputEvent) {
        guard handle != nil else { return }
        let now = ContinuousClock.now
        switch event {
        case .key(let key):
            lastKey = ("\(key)", now)
            pending = ("key \(key)", "", now)
        case .jobFinished(_, _, let outcome):
            let name: String
            switch outcome {
            case .recut: name = "recut"
            case .computed: name = "map"
            case .loaded: name = "load"
            case .loadedMap: name = "load (map; token-level data not loaded)"
            case .tokens: name = "token-level data"
            case .attention: name = "attention"
            case .cancelled: name = "cancelled"
            default: name = "other"
            }
            let since = (lastKey.map { ", " + TimingLog.ms(now - $0.at) + " after key " + $0.key } ?? "")
                + ", " + TimingLog.ms(now - started) + " after start"
            pending = ("job \(name)", since, now)
        default:
            break
        }
    }

    /// Notes that the reducer is done with the event (the rest is drawing).
    mutating func reduced() {
        guard handle != nil, let p = pending else { return }
        pending = (p.name, " (reduce " + TimingLog.ms(ContinuousClock.now - p.at) + ")" + p.note, p.at)
    }

    /// Writes the line of the event the screen now shows, with the head's cut stages.
    mutating func drawn(_ state: AppState) {
        guard let handle, let (name, note, at) = pending else { return }
        pending = nil
        let cut = state.cutTimes.stages.map { "\($0.name) " + String(format: "%.1f", $0.ms) }.joined(separator: ", ")
        handle.write(Data((name + " drawn " + TimingLog.ms(ContinuousClock.now - at) + note + " [head cut: \(cut)]\n").utf8))
    }

    static func ms(_ d: Duration) -> String {
        String(format: "%.1f ms", d.milliseconds)
    }
}
