#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NablaCore

/// Progress of long work on stderr, only when stderr is a terminal and the work has run
/// for more than a second: one line, rewritten in place at most ten times a second
/// (`attend: dense, heads 0-7, 3400/10080 query blocks, 12 s, about 24 s left`) and erased
/// at the end, so logs and pipes see nothing. Test-only: `NABLA_PROGRESS=1` shows it
/// whatever stderr is (a test reading a pipe), `NABLA_PROGRESS_AFTER_MS=N` after N ms
/// instead of a second.
///
/// Ctrl-C needs nothing from here: the signal handlers (`OutputCleanup`) remove what was
/// being written and end the process by the signal (exit status 130 in a shell).
final class StderrProgress: @unchecked Sendable {
    private let label: String
    private let start = ContinuousClock.now
    private let enabled = isatty(STDERR_FILENO) == 1 || ProcessInfo.processInfo.environment["NABLA_PROGRESS"] == "1"
    private var shown = false
    private var lastDraw: ContinuousClock.Instant?
    private var stage: (name: String, start: ContinuousClock.Instant)?
    private let lock = NSLock()

    init(label: String) { self.label = label }

    /// For `MaskReport` and `PooledMap`: the stage and the head it is at.
    var report: MaskReport.Progress {
        { [self] stage, done, total in show(total > 1 ? "\(stage), head \(done + 1) of \(total)" : stage) }
    }

    /// For attention kernels: the stage, query blocks done of their total, over `heads`.
    func attention(heads: [Int]) -> AttentionProgress {
        let which = heads.count == 1 ? "head \(heads[0])" : "heads \(HeadSelection(heads))"
        return { [self] stage, done, total in
            if stage.hasPrefix("estimate +-") {
                update(stage: stage, detail: "\(which), \(done) of \(total) query blocks per head sampled", done: nil, total: nil)
            } else {
                update(stage: stage, detail: "\(which), \(done)/\(total) query blocks", done: done, total: total)
            }
        }
    }

    /// Shows `stage, detail, ELAPSED` and, with `done` of `total`, the time left at the
    /// stage's rate so far.
    func update(stage name: String, detail: String, done: Int?, total: Int?) {
        guard enabled else { return }
        let now = ContinuousClock.now
        lock.lock()
        let base = name.split(separator: " ").first.map(String.init) ?? name
        let changed = stage?.name != base
        if changed { stage = (base, now) }
        let stageStart = stage!.start
        lock.unlock()
        var text = "\(name), \(detail), \(Self.duration(now - start))"
        if let done, let total, done > 0, done < total {
            let spent = Self.seconds(now - stageStart)
            text += ", about \(Self.duration(.seconds(spent / Double(done) * Double(total - done)))) left"
        }
        show(text, force: changed)
    }

    /// Shows `what` after the label (when enabled, past the first second, and a tenth of
    /// a second after the last line unless `force`: a new stage always shows).
    func show(_ what: String, force: Bool = false) {
        guard enabled, ContinuousClock.now - start >= Self.after else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        if !force, let lastDraw, now - lastDraw < .milliseconds(100) { return }
        lastDraw = now
        FileHandle.standardError.write(Data("\r\u{1B}[K\(label): \(Shown.text(what))".utf8))
        shown = true
    }

    /// Erases the progress line, if one was shown.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        shown = false
    }

    static let after = Duration.milliseconds(ProcessInfo.processInfo.environment["NABLA_PROGRESS_AFTER_MS"].flatMap { Int($0) } ?? 1000)

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// `0.4 s`, `12 s`, `3 min 05 s`.
    static func duration(_ d: Duration) -> String {
        let s = seconds(d)
        if s < 10 { return String(format: "%.1f s", s) }
        if s < 60 { return "\(Int(s)) s" }
        return String(format: "%d min %02d s", Int(s) / 60, Int(s) % 60)
    }
}

/// Counts the polls of kernel runs (each polls `isCancelled` once per query block of every
/// head and once at its end) and shows them as `kernels, heads 0-7, run 2 of 5, ...`.
final class KernelTicks: @unchecked Sendable {
    private let progress: StderrProgress
    private let label: String
    private let perRun: Int
    private let runs: Int
    private let lock = NSLock()
    private var count = 0

    init(progress: StderrProgress, label: String, perRun: Int, runs: Int) {
        self.progress = progress
        self.label = label
        self.perRun = max(perRun, 1)
        self.runs = runs
    }

    /// An `isCancelled` that counts and never cancels.
    var tick: () -> Bool {
        { [self] in
            lock.lock()
            count += 1
            let c = count
            lock.unlock()
            if c % 16 == 1 {
                let total = perRun * runs
                progress.update(stage: "kernels", detail: "\(label), run \(min(c / perRun + 1, runs)) of \(runs), \(min(c, total))/\(total) query blocks",
                                done: min(c, total), total: total)
            }
            return false
        }
    }
}
