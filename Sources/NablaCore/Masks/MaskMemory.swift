import Foundation

/// What a mask computation will hold in memory at its peak, estimated before any heavy
/// work so that nabla can refuse instead of being killed.
///
/// Units are bytes. The figures follow the engine's buffers: the input tensors as read
/// from their files (`inputBytes`: owned memory, never a mapping; only the chosen
/// heads' bytes when the files can be read by head, `HeadRead`); pooled vectors `2 * 8 * heads * N * D`; the map
/// `8 * N^2` per head held at once; the mask `heads * N^2` and margins `8 * heads * N`;
/// FlexAttention rows in chunks of 8 MB (`BlockMask.forEachKVIndicesChunk`: the
/// `4 * heads * N^2` array is never whole); Q/K converted to `Float`
/// `2 * 4 * heads * S * D` unless used in place.
public struct MaskMemory: Sendable, Equatable {
    /// How the result is used, which decides what is held at once.
    public enum Use: Sendable, Equatable {
        /// `nabla mask`: one head's map at a time, then the BlockMask rows and their file.
        case maskFiles
        /// The app and the benchmark: every head's map kept for re-cuts, the previous
        /// input's map until the new one replaces it, and three masks while the app
        /// re-cuts (the mask on screen, the new per-head cuts and their join).
        case cachedMap
    }

    public let heads: Int
    public let n: Int
    public let tokens: Int
    public let headDim: Int
    /// Whether Q and K are converted to `Float` copies (not read in place).
    public let converts: Bool
    public let use: Use
    /// Bytes of tensor data read from files and held while the mask is computed
    /// (`InputPlan.bytesToRead`); 0 when the input is already in memory.
    public let inputBytes: Int

    public init(heads: Int, n: Int, tokens: Int, headDim: Int, converts: Bool, use: Use, inputBytes: Int = 0) {
        self.heads = heads
        self.n = n
        self.tokens = tokens
        self.headDim = headDim
        self.converts = converts
        self.use = use
        self.inputBytes = inputBytes
    }

    /// The estimated peak in bytes.
    public var bytes: Int { fixed + heads * perHead }

    /// Bytes that do not grow with the number of heads: the input as read, one head's
    /// map and its cut (`9 * N^2`) for `nabla mask`, one head's cuts made ahead of time in
    /// the app (at the five settings one key away), the chunk of FlexAttention rows and
    /// per-thread scratch. The process itself (about 30 MB resident before any work) is
    /// not counted: `MemAvailable` is read while it runs, so it is already spent.
    var fixed: Int {
        let scratch = 4 * (16 * n + 24 * 1024)
        let rowChunk = min(8 << 20, 4 * heads * n * n)
        let perUse = use == .maskFiles ? 9 * n * n : 5 * (n * n + 8 * n)
        return inputBytes + perUse + rowChunk + scratch + (1 << 20)
    }

    /// Bytes per head.
    var perHead: Int {
        let n2 = n * n
        let input = converts ? 2 * 4 * tokens * headDim : 0
        let pooled = 2 * 8 * n * headDim
        let mask = n2 + 8 * n
        switch use {
        case .maskFiles: return input + pooled + mask
        case .cachedMap: return input + pooled + 2 * 8 * n2 + 3 * mask
        }
    }

    /// The most heads that fit in `available` bytes (0 when not even one does).
    public func headsThatFit(_ available: Int) -> Int {
        max(0, min(heads, (available - fixed) / max(perHead, 1)))
    }

    /// The memory nabla may use: `NABLA_MEMORY_LIMIT` (bytes, or with a suffix K, M, G:
    /// `"1.5G"`) when set, otherwise `MemAvailable` from `/proc/meminfo`; `nil` when
    /// neither can be read. `source` says which.
    public static func available(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> (bytes: Int, source: String)? {
        if let text = environment["NABLA_MEMORY_LIMIT"], let bytes = parseBytes(text) {
            return (bytes, "NABLA_MEMORY_LIMIT")
        }
        guard let info = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in info.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kb = Int(fields[1]) { return (kb * 1024, "available") }
        }
        return nil
    }

    /// `"123"`, `"1.5G"`, `"800M"`, `"64K"` (binary multiples; an optional `B` or `iB`).
    static func parseBytes(_ text: String) -> Int? {
        var t = text.trimmingCharacters(in: .whitespaces).uppercased()
        for suffix in ["IB", "B"] where t.hasSuffix(suffix) && t.count > suffix.count { t.removeLast(suffix.count) }
        let scale: Double
        switch t.last {
        case "K": scale = 1024
        case "M": scale = 1024 * 1024
        case "G": scale = 1024 * 1024 * 1024
        case "T": scale = 1024 * 1024 * 1024 * 1024
        default: scale = 1
        }
        if scale > 1 { t.removeLast() }
        guard let v = Double(t), v.isFinite, v >= 0, v * scale < 9e18 else { return nil }
        return Int(v * scale)
    }

    /// `"1.23 GB"` (decimal units, as `free -h` users read them loosely; 1 GB = 1e9).
    public static func text(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1e9 { return String(format: "%.2f GB", b / 1e9) }
        if b >= 1e6 { return String(format: "%.0f MB", b / 1e6) }
        return String(format: "%.0f kB", b / 1e3)
    }
}

extension MaskMemory {
    /// Refuses work whose estimate exceeds what is available, in one line: the estimate,
    /// what is available, and what would fit (fewer heads, or a larger standard block).
    ///
    /// `larger` gives the estimate for another block shape (the caller knows the grid),
    /// or `nil` when that shape does not divide it; `what` names the input.
    /// - Throws: `NablaError.tooLarge`.
    public func check(what: String, block: BlockShape, headIndices: [Int],
                      available: (bytes: Int, source: String)? = MaskMemory.available(),
                      larger: (BlockShape) -> MaskMemory?) throws {
        guard let available, bytes > available.bytes else { return }
        var fits: [String] = []
        let k = headsThatFit(available.bytes)
        if k > 0 {
            fits.append("\(k) of the \(heads) heads (a head selection such as \(HeadSelection(Array(headIndices.prefix(k)))))")
        }
        let bigger = BlockShape.standard.filter { $0.tokens > block.tokens }.sorted { $0.tokens < $1.tokens }
        for shape in bigger {
            if let estimate = larger(shape), estimate.bytes <= available.bytes {
                fits.append("block \(shape) (\(MaskMemory.text(estimate.bytes)))")
                break
            }
        }
        throw MaskMemory.refusal("\(what): \(heads) heads at block \(block) (N = \(n)) need", bytes: bytes,
                                 available: available, fits: fits)
    }

    /// The one way nabla refuses work for memory (mask computations, attention): one
    /// line with what needs how much, what is available (`MemAvailable`) or allowed
    /// (`NABLA_MEMORY_LIMIT`), and what would fit.
    static func refusal(_ what: String, bytes: Int, available: (bytes: Int, source: String), fits: [String]) -> NablaError {
        let fitText = fits.isEmpty ? "nothing smaller fits either" : "would fit: " + fits.joined(separator: ", or ")
        let limit = available.source == "available" ? "available" : "allowed by \(available.source)"
        return NablaError(.tooLarge, "\(what) about \(MaskMemory.text(bytes)) but \(MaskMemory.text(available.bytes)) is \(limit); \(fitText)")
    }
}
