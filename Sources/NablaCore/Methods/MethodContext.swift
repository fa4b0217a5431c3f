import Foundation

/// What a `SparseMethod` may look at, for one input on one block grid: the grid, the
/// pooled map, the token-level Q/K/V in block order and the true block mass. Each part is
/// computed on first use and kept, so the methods of a sweep share one pooling, one map
/// and one true-mass run. Safe to use from several threads.
///
/// Methods are written against `BlockGrid`, its raster block numbering and the real
/// extent of each block (`blockStarts`), so they run on grids with partial edge blocks
/// (`--edge pad`): a block holds only its real tokens, the pooled map means over them and
/// gives a partial key block `+ log(count / B)` (`BlockGrid.keyLogitOffsets`), the true
/// block mass sums over real tokens.
public final class MethodContext: @unchecked Sendable {
    public let input: QKInput
    public let blocks: BlockGrid
    /// Polled by long computations; `true` stops them (they then return `nil`).
    public let isCancelled: @Sendable () -> Bool

    private let lock = NSLock()
    private var map: PooledMap?
    private var mass: TrueBlockMass?
    private var tokenCache: [String: [Float]] = [:]
    private var scoreCache: [String: [Double]] = [:]

    /// - Throws: `NablaError.badGrid` when `blocks` is not on the input's grid.
    public init(input: QKInput, blocks: BlockGrid, map: PooledMap? = nil, trueMass: TrueBlockMass? = nil,
                isCancelled: @escaping @Sendable () -> Bool = { false }) throws {
        guard blocks.grid == input.grid else {
            throw NablaError(.badGrid, "block grid \(blocks) is on grid \(blocks.grid), the input's grid is \(input.grid)")
        }
        precondition(map.map { $0.blocks == blocks && $0.heads == input.heads } ?? true, "a map of this input's heads and blocks")
        precondition(trueMass.map { $0.heads == Array(0..<input.heads) && $0.n == blocks.count } ?? true,
                     "a true mass of every head on these blocks")
        self.input = input
        self.blocks = blocks
        self.map = map
        self.mass = trueMass
        self.isCancelled = isCancelled
        var starts = (0..<blocks.count).map { blocks.offset(ofBlock: $0) }
        starts.append(blocks.keptTokens)
        blockStarts = starts
        var owner = [Int32](repeating: 0, count: blocks.keptTokens)
        for b in 0..<blocks.count { for p in starts[b]..<starts[b + 1] { owner[p] = Int32(truncatingIfNeeded: b) } }
        blockOfToken = owner
    }

    /// The block-order position of the first token of every block, `[N + 1]` (the last
    /// entry is the kept token count): block `b` holds positions `blockStarts[b] ..<
    /// blockStarts[b + 1]`, `B` of them for a whole block, fewer for a partial edge block
    /// (`--edge pad`, `BlockGrid.tokens(inBlock:)`).
    public let blockStarts: [Int]
    /// The block of every block-order token position, `[keptTokens]`.
    public let blockOfToken: [Int32]

    public var heads: Int { input.heads }
    public var n: Int { blocks.count }
    /// Tokens per whole block, `B`.
    public var blockTokens: Int { blocks.block.tokens }
    /// Real tokens of block `b` (`B` for a whole block).
    public func tokens(inBlock b: Int) -> Int { blockStarts[b + 1] - blockStarts[b] }

    /// The pooled map of every head (NABLA.md steps 1-2), made once.
    public func pooledMap() throws -> PooledMap? {
        if let m = locked({ map }) { return m }
        let isCancelled = self.isCancelled
        guard let m = try PooledMap.compute(input, block: blocks.block, isCancelled: { isCancelled() }) else { return nil }
        locked { map = m }
        return m
    }

    /// The pooled map when it was already made (for a mask's statistics).
    public var pooledMapIfMade: PooledMap? { locked { map } }

    /// The true block mass of every head (`TrueBlockMass`), made once: `2 D S^2` flops per head.
    /// - Throws: `NablaError.tooLarge` when the run would not fit in memory.
    public func trueMass() throws -> TrueBlockMass? {
        if let m = locked({ mass }) { return m }
        if let text = input.text {
            // The methods index the mass by video block; a joint map (text blocks too) is not theirs.
            throw NablaError(.badArgument, "\(input.name): the methods' true block mass with joint text tokens (\(text.tokens)) is not handled yet; nabla attend --recall gives recall with text")
        }
        let ops = try AttentionOperands(input: input, blocks: blocks)
        guard case .mass(let m)? = ops.compute(.trueBlockMass, isCancelled: isCancelled) else { return nil }
        locked { mass = m }
        return m
    }

    /// The true mass when it was already made.
    public var trueMassIfMade: TrueBlockMass? { locked { mass } }

    /// Head `h` of Q (`"q"`), K (`"k"`) or V (`"v"`) as Float `[S, D]` in block order
    /// (block 0's tokens, then block 1's; inside a block raster over `bt x bh x bw`).
    /// Kept for the context's life once read.
    public func tokens(_ which: String, head h: Int) -> [Float] {
        let key = "\(which)\(h)"
        if let t = locked({ tokenCache[key] }) { return t }
        let x: HeadTokens
        switch which {
        case "q": x = input.q
        case "k": x = input.k
        default:
            guard let v = input.v else { preconditionFailure("V asked of an input without V") }
            x = v
        }
        let d = input.headDim
        let stored = (try? input.order.storedRows(for: input.grid)) ?? []
        let perm = blocks.blockOrderPermutation()
        var out = [Float](repeating: 0, count: perm.count * d)
        out.withUnsafeMutableBufferPointer { o in
            for (p, r) in perm.enumerated() { x.copyRow(h, Int(stored[Int(r)]), into: o.baseAddress! + p * d) }
        }
        locked { tokenCache[key] = out }
        return out
    }

    /// A per-method cache of derived scores (`key` names the method and its settings).
    func scores(_ key: String, make: () -> [Double]?) -> [Double]? {
        if let s = locked({ scoreCache[key] }) { return s }
        guard let s = make() else { return nil }
        locked { scoreCache[key] = s }
        return s
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}

extension MethodContext {
    /// Per head, the `counts[h][a]` largest entries of row `a` of `scores` (`[heads, N, N]`),
    /// ties to the lower index (as a stable descending sort keeps them), as a mask.
    /// - Complexity: O(heads * N^2 log N).
    static func topRows(_ scores: [Double], heads: Int, n: Int, counts: (Int, Int) -> Int) -> [UInt8] {
        var kept = [UInt8](repeating: 0, count: heads * n * n)
        kept.withUnsafeMutableBufferPointer { k in
            scores.withUnsafeBufferPointer { s in
                Parallel.forEach(heads * n) { row in
                    let base = row * n
                    let order = (0..<n).sorted { x, y in
                        let px = s[base + x], py = s[base + y]
                        return px > py || (px == py && x < y)
                    }
                    for b in order.prefix(min(max(counts(row / n, row % n), 1), n)) { k[base + b] = 1 }
                }
            }
        }
        return kept
    }
}
