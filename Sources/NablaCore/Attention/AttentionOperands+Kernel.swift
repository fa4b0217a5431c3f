import CNablaKernels
import Foundation

/// Work a front can ask of `AttentionOperands.compute(_:threads:isCancelled:)`.
public enum AttentionWork: Sendable {
    case sparse(KeptKeyBlocks)
    case dense
    case trueBlockMass
}

/// What `AttentionOperands.compute` produced: `[slots, S, D]` outputs or the mass map.
public enum AttentionWorkResult: Sendable {
    case output([Float])
    case mass(TrueBlockMass)
}

/// The outputs of one kernel run over the packed heads.
struct AttentionRun {
    /// `[slots, S, D]` float32 in the input's token order, or `nil` without V.
    var output: [Float]?
    /// `[slots, N, N]`: per query block, the true softmax mass of each key block summed over
    /// the block's tokens, divided by `B` (rows sum to 1); `nil` unless recorded.
    var blockMass: [Double]?
}

extension AttentionOperands {
    /// Block-sparse attention over `kept` (rows of every input head; the packed heads' rows
    /// are used): every query of block `a` attends to exactly the tokens of the kept key
    /// blocks of row `a` (NABLA.md, "block-sparse attention").
    ///
    /// Returns `[slots, S, D]` float32, tokens in the input's stored order (with text:
    /// `[slots, Nt + Nv, D]` in sequence order). `kept` may be on the video's blocks of a
    /// joint sequence: its joint rows are run (`kernelRows`).
    /// - Complexity: O(4 * D * B^2 * kept blocks) flops per head, kept blocks of each
    ///   query block visited in ascending order; work split across `threads` by kept blocks.
    public func sparse(_ kept: KeptKeyBlocks, threads: Int? = nil) -> [Float] {
        precondition(hasValues, "sparse attention needs V")
        let kept = kernelRows(kept)
        return run(kept: kept, values: true, recordMass: false, threads: threads).output!
    }

    /// Dense attention (every key block), `[slots, S, D]` in the input's stored order.
    /// - Complexity: O(4 * D * S^2) flops per head.
    public func dense(threads: Int? = nil) -> [Float] {
        precondition(hasValues, "dense attention needs V")
        return run(kept: nil, values: true, recordMass: false, threads: threads).output!
    }

    /// Dense attention and the true block mass map in one pass (the mass comes from the
    /// same scores and running maxima).
    public func denseWithBlockMass(threads: Int? = nil) -> (output: [Float], mass: TrueBlockMass) {
        precondition(hasValues, "dense attention needs V")
        let r = run(kept: nil, values: true, recordMass: true, threads: threads)
        return (r.output!, TrueBlockMass(heads: heads, n: n, mass: r.blockMass!, queryWeights: queryWeights, joint: joint))
    }

    /// The true block mass map of every packed head, needing no V: one pass of the scores
    /// of every query against every key (half the flops of dense attention).
    /// - Complexity: O(2 * D * S^2) flops per head.
    public func trueBlockMass(threads: Int? = nil) -> TrueBlockMass {
        let r = run(kept: nil, values: false, recordMass: true, threads: threads)
        return TrueBlockMass(heads: heads, n: n, mass: r.blockMass!, queryWeights: queryWeights, joint: joint)
    }

    /// Flops of attention over `keptBlocks` block pairs of one head: `4 * D * B^2` per pair
    /// (`Q K^T` and `P V`, a multiply and an add each), exp and softmax not counted, as
    /// FlashAttention's papers count. (With partial edge blocks this counts whole blocks,
    /// the work the kernels do; `BlockMask.statistics.density` counts real token pairs.)
    public func flops(keptBlocks: Int) -> Double {
        4 * Double(headDim) * Double(tokensPerBlock * tokensPerBlock) * Double(keptBlocks)
    }

    /// One stage of work for a front that may abandon it (the terminal app): `nil` when
    /// `isCancelled` turned true before the work was done (polled before every query block).
    /// - Precondition: V for `.sparse` and `.dense`.
    public func compute(_ work: AttentionWork, threads: Int? = nil, isCancelled: () -> Bool) -> AttentionWorkResult? {
        let r: AttentionRun?
        switch work {
        case .sparse(let kept):
            precondition(hasValues, "sparse attention needs V")
            r = run(kept: kernelRows(kept), values: true, recordMass: false, threads: threads, isCancelled: isCancelled)
            return r.map { .output($0.output!) }
        case .dense:
            precondition(hasValues, "dense attention needs V")
            r = run(kept: nil, values: true, recordMass: false, threads: threads, isCancelled: isCancelled)
            return r.map { .output($0.output!) }
        case .trueBlockMass:
            r = run(kept: nil, values: false, recordMass: true, threads: threads, isCancelled: isCancelled)
            return r.map { .mass(TrueBlockMass(heads: heads, n: n, mass: $0.blockMass!, queryWeights: queryWeights, joint: joint)) }
        }
    }

    // MARK: - The run

    /// `threads`: how many threads to spread the work over (all cores when `nil`); 1 runs
    /// on the calling thread. Every output row is computed the same way whatever the
    /// split, so results do not depend on it.
    func run(kept: KeptKeyBlocks?, values: Bool, recordMass: Bool, threads: Int?) -> AttentionRun {
        run(kept: kept, values: values, recordMass: recordMass, threads: threads, isCancelled: { false })!
    }

    func run(kept: KeptKeyBlocks?, values: Bool, recordMass: Bool, threads: Int?,
             isCancelled: () -> Bool) -> AttentionRun? {
        let threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        // The kernel level is read here, on the caller's task, and handed to the workers.
        let kernels = KernelVariant.current.table
        let n = self.n, slots = heads.count, d = headDim, s = tokens
        let all = (0..<n).map { Int32(truncatingIfNeeded: $0) }
        // Items are (slot, query block) in order; each costs its kept blocks plus one for
        // writing the rows out.
        var costs = [Int](repeating: 0, count: slots * n)
        for slot in 0..<slots {
            for a in 0..<n {
                let count = kept.map { Int($0.count[heads[slot] * n + a]) } ?? n
                costs[slot * n + a] = count + 1
            }
        }
        let chunks = balancedChunks(costs, parts: threads <= 1 ? 1 : 8 * threads)
        var output: [Float]? = values ? [Float](repeating: 0, count: slots * s * d) : nil
        var mass: [Double]? = recordMass ? [Double](repeating: 0, count: slots * n * n) : nil
        withOptionalMutablePointer(&output) { out in
            withOptionalMutablePointer(&mass) { massOut in
                all.withUnsafeBufferPointer { allP in
                  (kept?.indices ?? []).withUnsafeBufferPointer { idx in
                   storedRow.withUnsafeBufferPointer { rowsP in
                    func work(_ item: Int) {
                        let ws = Workspace(rows: self.rowsPerBlock, width: self.valueWidth, n: n, mass: recordMass)
                        defer { ws.deallocate() }
                        for i in chunks[item] {
                            if isCancelled() { return }
                            let slot = i / n, a = i % n
                            if let kept {
                                let row = self.heads[slot] * n + a
                                self.queryBlock(slot: slot, a: a, keys: idx.baseAddress! + row * n,
                                                count: Int(kept.count[row]), values: values, ws: ws, out: out, mass: massOut,
                                                rows: rowsP.baseAddress!, kernels: kernels)
                            } else {
                                self.queryBlock(slot: slot, a: a, keys: allP.baseAddress!, count: n, values: values,
                                                ws: ws, out: out, mass: massOut, rows: rowsP.baseAddress!, kernels: kernels)
                            }
                        }
                    }
                    if threads <= 1 {
                        for item in chunks.indices { work(item) }
                    } else {
                        Parallel.forEach(chunks.count, work)
                    }
                   }
                  }
                }
            }
        }
        if isCancelled() { return nil }
        return AttentionRun(output: output, blockMass: mass)
    }

    /// The C kernels' description of query block `a` of slot `slot` against the `count`
    /// key blocks at `keys`: output rows to `out` at the token rows `storedRows`, the mass
    /// row to `mass` (`nabla_attn_block` in kernels_attn.h; no partial key blocks).
    func blockJob(slot: Int, a: Int, keys: UnsafePointer<Int32>, count: Int, values: Bool,
                  out: UnsafeMutablePointer<Float>?, storedRows: UnsafePointer<Int32>,
                  mass: UnsafeMutablePointer<Double>?) -> nabla_attn_block {
        let n = self.n, d = headDim, bq = rowsPerBlock, bk = keysPerBlock, dv = valueWidth
        return nabla_attn_block(
            q: UnsafePointer(q.buffer.baseAddress! + (slot * n + a) * bq * d),
            kT: UnsafePointer(kT.buffer.baseAddress! + slot * n * d * bk),
            v: values ? v.map { UnsafePointer($0.buffer.baseAddress! + slot * n * bk * dv) } : nil,
            keys: keys, count: Int32(count), n: Int32(n), b: Int32(tokensPerBlock), bq: Int32(bq), bk: Int32(bk),
            d: Int32(d), dv: Int32(dv), out: out, stored_rows: storedRows, mass: mass,
            key_counts: nil, rows: 0)
    }

    /// One query block `a` of slot `slot` against the `count` key blocks at `keys`
    /// (ascending), by the C kernels of `kernels` (`nabla_kernels.attn_query_block`):
    /// FlashAttention's loop with the key block outermost, so one K/V block (32 KiB at
    /// B = 64, D = 64) stays in L1/L2 while every 4-row tile of the query block passes
    /// over it; scores, the online softmax (`2^x` on scores pre-scaled by `log2 e`) and
    /// `P V` in register tiles sized for the level's registers.
    @inline(__always)
    func queryBlock(slot: Int, a: Int, keys: UnsafePointer<Int32>, count: Int, values: Bool, ws: Workspace,
                    out: UnsafeMutablePointer<Float>?, mass: UnsafeMutablePointer<Double>?,
                    rows: UnsafePointer<Int32>, kernels: UnsafePointer<nabla_kernels>) {
        var job = blockJob(slot: slot, a: a, keys: keys, count: count, values: values,
                           out: out.map { $0 + slot * tokens * headDim }, storedRows: rows + a * tokensPerBlock,
                           mass: mass.map { $0 + (slot * n + a) * n })
        runBlock(&job, a: a, ws: ws, kernels: kernels)
    }

    /// Runs `job` (query block `a`) by `kernels`, with each block's real rows and keys when
    /// the grid has partial edge blocks.
    @inline(__always)
    func runBlock(_ job: inout nabla_attn_block, a: Int, ws: Workspace, kernels: UnsafePointer<nabla_kernels>) {
        var scratch = ws.scratch
        if let blockCounts {
            blockCounts.withUnsafeBufferPointer { counts in
                job.key_counts = counts.baseAddress
                job.rows = counts[a]
                kernels.pointee.attn_query_block(&job, &scratch)
            }
        } else {
            kernels.pointee.attn_query_block(&job, &scratch)
        }
    }
}

/// One worker's scratch: the output rows, running maxima and sums of one query block, two
/// 4 x 64 tiles of scores (the kernels' software pipeline uses them in turn), and (for the block mass) each row's per-key-block sums and the
/// running maximum they are relative to.
final class Workspace {
    let o: UnsafeMutablePointer<Float>
    let m: UnsafeMutablePointer<Float>
    let l: UnsafeMutablePointer<Float>
    let p: UnsafeMutablePointer<Float>
    let massSum: UnsafeMutablePointer<Float>
    let massMax: UnsafeMutablePointer<Float>
    /// `N` rounded up to 16.
    let npad: Int

    init(rows: Int, width: Int, n: Int, mass: Bool) {
        func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 16) * 4, alignment: 64)
            return raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 16))
        }
        npad = roundUp(n, 16)
        o = floats(rows * width)
        m = floats(rows)
        l = floats(rows)
        p = floats(2 * AttentionOperands.rowTile * 64)
        massSum = floats(mass ? rows * npad : 0)
        massMax = floats(mass ? rows * npad : 0)
    }

    /// The C kernels' view of this scratch.
    var scratch: nabla_attn_workspace {
        nabla_attn_workspace(o: o, m: m, l: l, p: p, mass_sum: massSum, mass_max: massMax, npad: Int32(npad))
    }

    func deallocate() {
        for ptr in [o, m, l, p, massSum, massMax] { UnsafeMutableRawPointer(ptr).deallocate() }
    }
}

/// Splits items with the given costs into at most `parts` contiguous ranges of about equal
/// total cost (by prefix sums), so threads get equal work rather than equal row counts.
/// - Complexity: O(items).
func balancedChunks(_ costs: [Int], parts: Int) -> [Range<Int>] {
    guard !costs.isEmpty else { return [] }
    let total = costs.reduce(0, +)
    let parts = max(1, min(parts, costs.count))
    var chunks: [Range<Int>] = []
    var start = 0, acc = 0
    for (i, c) in costs.enumerated() {
        acc += c
        // Cut when the running total passes the next equal share.
        if acc * parts >= (chunks.count + 1) * total, i + 1 < costs.count {
            chunks.append(start..<(i + 1))
            start = i + 1
        }
    }
    chunks.append(start..<costs.count)
    return chunks
}

/// Calls `body` with a pointer to the array's storage, or `nil` when there is no array.
func withOptionalMutablePointer<T, R>(_ array: inout [T]?, _ body: (UnsafeMutablePointer<T>?) -> R) -> R {
    if array == nil { return body(nil) }
    return array!.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
