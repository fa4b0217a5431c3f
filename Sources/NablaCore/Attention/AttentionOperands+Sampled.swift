import CNablaKernels
import Foundation

/// What one query block of one head contributes to its head's recall and output error:
/// the figures `TrueBlockMass.recall` and `relativeL2Error` sum over every query block,
/// for this block alone.
public struct QueryBlockFigures: Sendable, Equatable {
    /// The share of the block's true softmax mass on its kept key blocks, in `[0, 1]`.
    public var recall: Double
    /// The share on its `count` heaviest key blocks (the oracle), in `[0, 1]`.
    public var oracle: Double
    /// `sum ||sparse - dense||^2` over the block's tokens (0 without V or unasked).
    public var errorSquared: Double
    /// `sum ||dense||^2` over the block's tokens (0 without V or unasked).
    public var referenceSquared: Double
}

extension AttentionOperands {
    /// The figures of the query blocks `items` (`(slot, query block)` pairs) only: per
    /// item, one pass of its queries against every key (the true block mass row; with
    /// `error`, dense attention of its rows in the same pass) and, with `error`, its rows
    /// of block-sparse attention over `kept`. The same kernels as the full runs, so an item
    /// gives the values the full runs give for its block.
    ///
    /// Returns one entry per item, in order; `nil` when `isCancelled` turned true (polled
    /// before every item).
    /// - Precondition: V when `error`; `kept` of the operands' block count (or of the
    ///   video's blocks of a joint sequence: its joint rows are used, `kernelRows`).
    /// - Complexity: `2 D B S` flops per item for the mass, with `error` `4 D B S` plus
    ///   `4 D B^2` per kept block; items spread over `threads` (all cores when `nil`).
    public func figures(ofQueryBlocks items: [(slot: Int, block: Int)], kept: KeptKeyBlocks, error: Bool,
                        threads: Int? = nil, isCancelled: () -> Bool = { false }) -> [QueryBlockFigures]? {
        precondition(!error || hasValues, "the output error needs V")
        let kept = kernelRows(kept)
        let n = self.n, b = tokensPerBlock, d = headDim
        var result = [QueryBlockFigures](repeating: QueryBlockFigures(recall: 0, oracle: 0, errorSquared: 0, referenceSquared: 0),
                                         count: items.count)
        let done = result.withUnsafeMutableBufferPointer { res -> Bool in
            let res = UncheckedSendable(res.baseAddress!)
            return kept.indices.withUnsafeBufferPointer { idx in
                eachQueryBlock(items, values: error, threads: threads, isCancelled: isCancelled) { i, slot, a, mass, dense, run in
                    let row = self.heads[slot] * n + a
                    let count = Int(kept.count[row])
                    var got = 0.0
                    for j in 0..<count { got += mass[Int(idx[row * n + j])] }
                    let masses = UnsafeBufferPointer(start: mass, count: n).sorted(by: >)
                    let oracle = count > 0 ? max(masses[0..<count].reduce(0, +), got) : 0
                    var figures = QueryBlockFigures(recall: got, oracle: oracle, errorSquared: 0, referenceSquared: 0)
                    if error, let dense {
                        let sparse = run(idx.baseAddress! + row * n, count)
                        // A partial edge block writes its real rows only.
                        let rows = self.blockCounts.map { Int($0[a]) } ?? b
                        var e = 0.0, s = 0.0
                        for j in 0..<(rows * d) {
                            let diff = Double(sparse[j]) - Double(dense[j])
                            e += diff * diff
                            s += Double(dense[j]) * Double(dense[j])
                        }
                        figures.errorSquared = e
                        figures.referenceSquared = s
                    }
                    res.value[i] = figures
                }
            }
        }
        return done ? result : nil
    }

    /// The true block mass rows of the query blocks `items` (`(slot, query block)` pairs):
    /// `[items, N]`, row `i` the rows `TrueBlockMass` holds for item `i` (the share of its
    /// tokens' softmax probability on each key block, averaged over its real tokens; rows
    /// sum to 1). The same kernels as the full run, so a row equals the full map's row.
    ///
    /// Returns `nil` when `isCancelled` turned true (polled before every item).
    /// - Complexity: `2 D B S` flops per item; items spread over `threads` (all cores
    ///   when `nil`).
    public func massRows(ofQueryBlocks items: [(slot: Int, block: Int)], threads: Int? = nil,
                         isCancelled: () -> Bool = { false }) -> [Double]? {
        let n = self.n
        var result = [Double](repeating: 0, count: items.count * n)
        let done = result.withUnsafeMutableBufferPointer { res -> Bool in
            let res = UncheckedSendable(res.baseAddress!)
            return eachQueryBlock(items, values: false, threads: threads, isCancelled: isCancelled) { i, _, _, mass, _, _ in
                (res.value + i * n).update(from: mass, count: n)
            }
        }
        return done ? result : nil
    }

    /// Runs every item of `items` against every key block, its mass row (`[N]`) and, with
    /// `values`, its dense output rows (`[B, D]`, block order) passed to `body(i, slot,
    /// block, mass, dense, sparse)`, where `sparse(keys, count)` runs the item's rows
    /// against `count` key blocks at `keys` and returns its output rows. Items are dealt
    /// round robin over the workers; returns `false` when `isCancelled` turned true
    /// (polled before every item).
    private func eachQueryBlock(_ items: [(slot: Int, block: Int)], values: Bool, threads: Int?, isCancelled: () -> Bool,
                                _ body: (Int, Int, Int, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Float>?,
                                         (UnsafePointer<Int32>, Int) -> UnsafeMutablePointer<Float>) -> Void) -> Bool {
        let kernels = KernelVariant.current.table
        let n = self.n, b = tokensPerBlock, d = headDim
        let all = (0..<n).map { Int32(truncatingIfNeeded: $0) }
        let identity = (0..<b).map { Int32(truncatingIfNeeded: $0) }
        let workers = max(1, min(threads ?? ProcessInfo.processInfo.activeProcessorCount, items.count))
        var stopped = [Bool](repeating: false, count: workers)
        stopped.withUnsafeMutableBufferPointer { stop in
            let stop = UncheckedSendable(stop.baseAddress!)
            all.withUnsafeBufferPointer { allP in
                identity.withUnsafeBufferPointer { rows in
                    func work(_ worker: Int) {
                        let ws = Workspace(rows: self.rowsPerBlock, width: self.valueWidth, n: n, mass: true)
                        let dense = UnsafeMutablePointer<Float>.allocate(capacity: b * d)
                        let sparse = UnsafeMutablePointer<Float>.allocate(capacity: b * d)
                        let mass = UnsafeMutablePointer<Double>.allocate(capacity: n)
                        defer { ws.deallocate(); dense.deallocate(); sparse.deallocate(); mass.deallocate() }
                        // Items are dealt round robin: worker w takes w, w + workers, ...
                        for i in stride(from: worker, to: items.count, by: workers) {
                            if isCancelled() { stop.value[worker] = true; return }
                            let (slot, a) = items[i]
                            mass.initialize(repeating: 0, count: n)
                            self.sampledBlock(slot: slot, a: a, keys: allP.baseAddress!, count: n, values: values,
                                              ws: ws, out: values ? dense : nil, mass: mass, rows: rows.baseAddress!,
                                              kernels: kernels)
                            body(i, slot, a, mass, values ? dense : nil) { keys, count in
                                self.sampledBlock(slot: slot, a: a, keys: keys, count: count, values: true,
                                                  ws: ws, out: sparse, mass: nil, rows: rows.baseAddress!, kernels: kernels)
                                return sparse
                            }
                        }
                    }
                    if workers == 1 { work(0) } else { Parallel.forEach(workers, work) }
                }
            }
        }
        return !stopped.contains(true) && !isCancelled()
    }

    /// One query block against `count` key blocks at `keys`, its `B` output rows written to
    /// `out` (`[B, D]`, block order) and its mass row added to `mass` (`[N]`).
    private func sampledBlock(slot: Int, a: Int, keys: UnsafePointer<Int32>, count: Int, values: Bool, ws: Workspace,
                              out: UnsafeMutablePointer<Float>?, mass: UnsafeMutablePointer<Double>?,
                              rows: UnsafePointer<Int32>, kernels: UnsafePointer<nabla_kernels>) {
        var job = blockJob(slot: slot, a: a, keys: keys, count: count, values: values,
                           out: out, storedRows: rows, mass: mass)
        runBlock(&job, a: a, ws: ws, kernels: kernels)
    }
}
