import Foundation
import NablaCore

/// Reads the input a request names, telling `observer` how far it is. The executable
/// implements it with `InputSpec.load`; tests inject their own.
///
/// `block` is the block shape the app is at when it asks (after `b`, not the one it
/// started with): an `--order block` input is read in that block's order and the memory
/// check counts that block's map.
public typealias InputLoader = @Sendable (_ request: InputSpec, _ block: BlockShape, _ observer: LoadObserver) throws -> QKInput

/// Turns the words typed after `:open` into a request, in the front end's input syntax.
/// - Throws: `NablaError.badArgument` with a one-line message.
public typealias InputParser = @Sendable (_ words: [String]) throws -> InputSpec

extension AppConfig {
    /// The parser of a front end without options: no words open the built-in sample, one
    /// a file (Q and K, or a latent), two or three Q K [V].
    public static let positionalInputs: InputParser = { words in
        if let option = words.first(where: { $0.hasPrefix("-") }) {
            throw NablaError(.badArgument, "open: \(option): this front end takes paths only")
        }
        let sources = words.map { TensorSource(path: $0) }
        switch sources.count {
        case 0: return InputSpec(source: .sample)
        case 1: return InputSpec(source: .file(words[0]))
        case 2, 3: return InputSpec(source: .tensors(q: sources[0], k: sources[1], v: sources.count == 3 ? sources[2] : nil))
        default: throw NablaError(.badArgument, "open: \(words.count) paths given; expected Q K [V] or one file")
        }
    }
}

/// What a loader reports while it reads an input, and how the app asks it to stop.
public struct LoadObserver: Sendable {
    /// Called as data is read: the tensor being read (`q.npy`), bytes read so far of the
    /// load's total.
    public var progress: @Sendable (_ tensor: String, _ bytesDone: Int, _ bytesTotal: Int) -> Void
    /// Polled by the reader; `true` asks it to stop (it then throws, and the app drops the load).
    public var isCancelled: @Sendable () -> Bool

    public init(progress: @escaping @Sendable (_ tensor: String, _ bytesDone: Int, _ bytesTotal: Int) -> Void,
                isCancelled: @escaping @Sendable () -> Bool) {
        self.progress = progress
        self.isCancelled = isCancelled
    }

    /// Reports nothing and never stops.
    public static let none = LoadObserver(progress: { _, _, _ in }, isCancelled: { false })
}

/// Which stage a long job is in and how far along, for the status line.
public enum JobProgress: Equatable, Sendable {
    /// Reading `tensor`: bytes read so far of the load's total.
    case reading(tensor: String, bytesDone: Int, bytesTotal: Int)
    /// Pooling Q and K into blocks.
    case pool
    /// Building the map of head `head` (0-based) of `heads`.
    case map(head: Int, heads: Int)
    /// Cutting head `head` (0-based) of `heads` in the background.
    case cut(head: Int, heads: Int)
    /// Recall of a pair: `head` of `heads` done (the model view).
    case recall(head: Int, heads: Int)
    /// The model view's density: pair `done` (0-based) of `pairs` under way.
    case pair(done: Int, pairs: Int)

    /// `loading q.npy 1.2 of 2.0 GB`, `pool`, `map head 3 of 8`, `cut head 5 of 8`.
    public var text: String {
        switch self {
        case .reading(let tensor, let done, let total):
            let gb = Double(total) >= 1e9
            let unit = gb ? 1e9 : 1e6
            let digits = gb ? 1 : 0
            return "loading \(tensor) \(fixed(Double(done) / unit, digits)) of \(fixed(Double(total) / unit, digits)) \(gb ? "GB" : "MB")"
        case .pool: return "pool"
        case .map(let head, let heads): return "map head \(head) of \(heads)"
        case .cut(let head, let heads): return "cut head \(head) of \(heads)"
        case .recall(let done, let heads): return "\(done) of \(heads) heads done"
        case .pair(let done, let pairs): return "pair \(done + 1) of \(pairs)"
        }
    }
}

/// One entry of a directory listing (Tab completion at the prompt).
public struct DirectoryEntry: Sendable, Equatable {
    public var name: String
    public var isDirectory: Bool

    public init(name: String, isDirectory: Bool) {
        self.name = name
        self.isDirectory = isDirectory
    }
}
