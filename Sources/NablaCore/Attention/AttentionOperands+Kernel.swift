import Foundation

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
    /// Returns `[slots, S, D]` float32, tokens in the input's stored order.
    /// - Complexity: O(4 * D * B^2 * kept blocks) flops per head, kept blocks of each
    ///   query block visited in ascending order; work split across `threads` by kept blocks.
    public func sparse(_ kept: KeptKeyBlocks, threads: Int? = nil) -> [Float] {
        precondition(hasValues, "sparse attention needs V")
        precondition(kept.n == n, "the mask's block count must match the operands'")
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
        return (r.output!, TrueBlockMass(heads: heads, n: n, mass: r.blockMass!))
    }

    /// The true block mass map of every packed head, needing no V: one pass of the scores
    /// of every query against every key (half the flops of dense attention).
    /// - Complexity: O(2 * D * S^2) flops per head.
    public func trueBlockMass(threads: Int? = nil) -> TrueBlockMass {
        let r = run(kept: nil, values: false, recordMass: true, threads: threads)
        return TrueBlockMass(heads: heads, n: n, mass: r.blockMass!)
    }

    /// Flops of attention over `keptBlocks` block pairs of one head: `4 * D * B^2` per pair
    /// (`Q K^T` and `P V`, a multiply and an add each), exp and softmax not counted, as
    /// FlashAttention's papers count.
    public func flops(keptBlocks: Int) -> Double {
        4 * Double(headDim) * Double(tokensPerBlock * tokensPerBlock) * Double(keptBlocks)
    }

    // MARK: - The run

    /// `threads`: how many threads to spread the work over (all cores when `nil`); 1 runs
    /// on the calling thread. Every output row is computed the same way whatever the
    /// split, so results do not depend on it.
    func run(kept: KeptKeyBlocks?, values: Bool, recordMass: Bool, threads: Int?) -> AttentionRun {
        let threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
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
                    let work: (Int) -> Void = { item in
                        let ws = Workspace(rows: self.rowsPerBlock, width: self.valueWidth, n: n, mass: recordMass)
                        defer { ws.deallocate() }
                        for i in chunks[item] {
                            let slot = i / n, a = i % n
                            if let kept {
                                let row = self.heads[slot] * n + a
                                self.queryBlock(slot: slot, a: a, keys: idx.baseAddress! + row * n,
                                                count: Int(kept.count[row]), values: values, ws: ws,
                                                out: out, mass: massOut)
                            } else {
                                self.queryBlock(slot: slot, a: a, keys: allP.baseAddress!, count: n, values: values,
                                                ws: ws, out: out, mass: massOut)
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
        return AttentionRun(output: output, blockMass: mass)
    }

    /// One query block `a` of slot `slot` against the `count` key blocks at `keys`
    /// (ascending): FlashAttention's loop with the key block outermost, so one K/V block
    /// (32 KiB at B = 64, D = 64) stays in L1/L2 while every row tile of the query block
    /// passes over it.
    @inline(__always)
    func queryBlock(slot: Int, a: Int, keys: UnsafePointer<Int32>, count: Int, values: Bool, ws: Workspace,
                    out: UnsafeMutablePointer<Float>?, mass: UnsafeMutablePointer<Double>?) {
        typealias V = SIMD16<Float>
        let n = self.n, b = tokensPerBlock, bq = rowsPerBlock, bk = keysPerBlock, d = headDim, dv = valueWidth
        let tile = AttentionOperands.rowTile
        let qBase = q.buffer.baseAddress! + (slot * n + a) * bq * d
        let o = ws.o, m = ws.m, l = ws.l, p = ws.p
        o.update(repeating: 0, count: bq * dv)
        m.update(repeating: -.infinity, count: bq)
        l.update(repeating: 0, count: bq)
        let record = mass != nil
        if record {
            ws.massSum.update(repeating: 0, count: bq * ws.npad)
            ws.massMax.update(repeating: 0, count: bq * ws.npad)
        }
        for index in 0..<count {
            let kb = Int(keys[index])
            let kBlock = UnsafePointer(kT.buffer.baseAddress! + (slot * n + kb) * d * bk)
            let vBlock = v.map { UnsafePointer($0.buffer.baseAddress! + (slot * n + kb) * bk * dv) }
            var t = 0
            while t < bq {
                let qt = UnsafePointer(qBase + t * d)
                var blockSum = SIMD4<Float>()
                var c = 0
                while c < bk {
                    let width = Swift.min(64, bk - c)
                    let valid = Swift.min(64, b - c)
                    if width == 64 {
                        scores4x64(q: qt, d: d, kT: kBlock + c, ldk: bk, p: p)
                    } else {
                        var w = 0
                        while w < width {
                            scores4x16(q: qt, d: d, kT: kBlock + c + w, ldk: bk, p: p + w)
                            w += 16
                        }
                    }
                    // Online softmax per row: running max m, running sum l, and the factor
                    // the row's output so far is rescaled by.
                    var scale = SIMD4<Float>()
                    for r in 0..<tile {
                        let row = p + r * 64
                        if valid < width { for j in valid..<width { row[j] = -.infinity } }
                        var mx = V(repeating: -.infinity)
                        var j = 0
                        while j < width {
                            mx = laneMax(mx, UnsafeRawPointer(row + j).loadUnaligned(as: V.self))
                            j += 16
                        }
                        let mOld = m[t + r]
                        let mNew = Swift.max(mOld, horizontalMax(mx))
                        let sc: Float = mOld == -.infinity ? 0 : Foundation.exp2(mOld - mNew)
                        let mv = V(repeating: mNew)
                        var sum = V()
                        j = 0
                        while j < width {
                            let e = exp2Vector(UnsafeRawPointer(row + j).loadUnaligned(as: V.self) - mv)
                            UnsafeMutableRawPointer(row + j).storeBytes(of: e, as: V.self)
                            sum += e
                            j += 16
                        }
                        let rowSum = horizontalSum(sum)
                        l[t + r] = l[t + r] * sc + rowSum
                        blockSum[r] = blockSum[r] * sc + rowSum
                        m[t + r] = mNew
                        scale[r] = sc
                    }
                    if values, let vBlock {
                        let vc = vBlock + c * dv
                        let ot = o + t * dv
                        var g = 0
                        while g + 64 <= dv {
                            pv4x64(p: p, keys: valid, v: vc + g, ldv: dv, o: ot + g, ldo: dv, scale: scale)
                            g += 64
                        }
                        while g < dv {
                            pv4x16(p: p, keys: valid, v: vc + g, ldv: dv, o: ot + g, ldo: dv, scale: scale)
                            g += 16
                        }
                    }
                    c += 64
                }
                if record {
                    for r in 0..<tile {
                        ws.massSum[(t + r) * ws.npad + kb] = blockSum[r]
                        ws.massMax[(t + r) * ws.npad + kb] = m[t + r]
                    }
                }
                t += tile
            }
        }
        // Rows out: O / l to the stored rows; the true block mass of each row summed over
        // the block's tokens.
        if let out {
            storedRow.withUnsafeBufferPointer { rows in
                for r in 0..<b {
                    let dst = out + (slot * tokens + Int(rows[a * b + r])) * d
                    let inv = 1 / l[r]
                    let src = o + r * dv
                    for j in 0..<d { dst[j] = src[j] * inv }
                }
            }
        }
        if let mass {
            let acc = mass + (slot * n + a) * n
            let share = 1 / Double(b)
            for r in 0..<b {
                let sums = ws.massSum + r * ws.npad, maxima = ws.massMax + r * ws.npad
                let mv = V(repeating: m[r]), inv = V(repeating: 1 / l[r])
                var k = 0
                while k < n {
                    let e = UnsafeRawPointer(sums + k).loadUnaligned(as: V.self) *
                        exp2Vector(UnsafeRawPointer(maxima + k).loadUnaligned(as: V.self) - mv) * inv
                    for lane in 0..<Swift.min(16, n - k) { acc[k + lane] += Double(e[lane]) * share }
                    k += 16
                }
            }
        }
    }

    /// Scores of 4 query rows against 64 keys: `p[r * 64 + c] = sum_j q[r, j] * kT[j, c]`.
    /// - Complexity: 16 `SIMD16<Float>` accumulators (registers with AVX-512), per `j` four
    ///   key loads and four broadcasts feed 16 FMAs.
    @inline(__always)
    func scores4x64(q: UnsafePointer<Float>, d: Int, kT: UnsafePointer<Float>, ldk: Int, p: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        var c00 = V(), c01 = V(), c02 = V(), c03 = V()
        var c10 = V(), c11 = V(), c12 = V(), c13 = V()
        var c20 = V(), c21 = V(), c22 = V(), c23 = V()
        var c30 = V(), c31 = V(), c32 = V(), c33 = V()
        let q1 = q + d, q2 = q + 2 * d, q3 = q + 3 * d
        for j in 0..<d {
            let kr = UnsafeRawPointer(kT + j * ldk)
            let k0 = kr.loadUnaligned(as: V.self), k1 = kr.loadUnaligned(fromByteOffset: 64, as: V.self)
            let k2 = kr.loadUnaligned(fromByteOffset: 128, as: V.self), k3 = kr.loadUnaligned(fromByteOffset: 192, as: V.self)
            let a0 = V(repeating: q[j]), a1 = V(repeating: q1[j])
            c00.addProduct(a0, k0); c01.addProduct(a0, k1); c02.addProduct(a0, k2); c03.addProduct(a0, k3)
            c10.addProduct(a1, k0); c11.addProduct(a1, k1); c12.addProduct(a1, k2); c13.addProduct(a1, k3)
            let a2 = V(repeating: q2[j]), a3 = V(repeating: q3[j])
            c20.addProduct(a2, k0); c21.addProduct(a2, k1); c22.addProduct(a2, k2); c23.addProduct(a2, k3)
            c30.addProduct(a3, k0); c31.addProduct(a3, k1); c32.addProduct(a3, k2); c33.addProduct(a3, k3)
        }
        let o = UnsafeMutableRawPointer(p)
        o.storeBytes(of: c00, toByteOffset: 0, as: V.self); o.storeBytes(of: c01, toByteOffset: 64, as: V.self)
        o.storeBytes(of: c02, toByteOffset: 128, as: V.self); o.storeBytes(of: c03, toByteOffset: 192, as: V.self)
        o.storeBytes(of: c10, toByteOffset: 256, as: V.self); o.storeBytes(of: c11, toByteOffset: 320, as: V.self)
        o.storeBytes(of: c12, toByteOffset: 384, as: V.self); o.storeBytes(of: c13, toByteOffset: 448, as: V.self)
        o.storeBytes(of: c20, toByteOffset: 512, as: V.self); o.storeBytes(of: c21, toByteOffset: 576, as: V.self)
        o.storeBytes(of: c22, toByteOffset: 640, as: V.self); o.storeBytes(of: c23, toByteOffset: 704, as: V.self)
        o.storeBytes(of: c30, toByteOffset: 768, as: V.self); o.storeBytes(of: c31, toByteOffset: 832, as: V.self)
        o.storeBytes(of: c32, toByteOffset: 896, as: V.self); o.storeBytes(of: c33, toByteOffset: 960, as: V.self)
    }

    /// Scores of 4 query rows against 16 keys, into `p[r * 64 + c]`.
    @inline(__always)
    func scores4x16(q: UnsafePointer<Float>, d: Int, kT: UnsafePointer<Float>, ldk: Int, p: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        var c0 = V(), c1 = V(), c2 = V(), c3 = V()
        let q1 = q + d, q2 = q + 2 * d, q3 = q + 3 * d
        for j in 0..<d {
            let k = UnsafeRawPointer(kT + j * ldk).loadUnaligned(as: V.self)
            c0.addProduct(V(repeating: q[j]), k); c1.addProduct(V(repeating: q1[j]), k)
            c2.addProduct(V(repeating: q2[j]), k); c3.addProduct(V(repeating: q3[j]), k)
        }
        let o = UnsafeMutableRawPointer(p)
        o.storeBytes(of: c0, toByteOffset: 0, as: V.self); o.storeBytes(of: c1, toByteOffset: 256, as: V.self)
        o.storeBytes(of: c2, toByteOffset: 512, as: V.self); o.storeBytes(of: c3, toByteOffset: 768, as: V.self)
    }

    /// `o[r, 0..<64] = o[r, 0..<64] * scale[r] + sum_j p[r * 64 + j] * v[j, 0..<64]` for 4
    /// rows: the output tile stays in 16 registers while the keys stream past.
    @inline(__always)
    func pv4x64(p: UnsafePointer<Float>, keys: Int, v: UnsafePointer<Float>, ldv: Int,
                o: UnsafeMutablePointer<Float>, ldo: Int, scale: SIMD4<Float>) {
        typealias V = SIMD16<Float>
        let or = UnsafeMutableRawPointer(o)
        func load(_ r: Int, _ g: Int) -> V { or.loadUnaligned(fromByteOffset: (r * ldo + g * 16) * 4, as: V.self) * scale[r] }
        var c00 = load(0, 0), c01 = load(0, 1), c02 = load(0, 2), c03 = load(0, 3)
        var c10 = load(1, 0), c11 = load(1, 1), c12 = load(1, 2), c13 = load(1, 3)
        var c20 = load(2, 0), c21 = load(2, 1), c22 = load(2, 2), c23 = load(2, 3)
        var c30 = load(3, 0), c31 = load(3, 1), c32 = load(3, 2), c33 = load(3, 3)
        for j in 0..<keys {
            let vr = UnsafeRawPointer(v + j * ldv)
            let v0 = vr.loadUnaligned(as: V.self), v1 = vr.loadUnaligned(fromByteOffset: 64, as: V.self)
            let v2 = vr.loadUnaligned(fromByteOffset: 128, as: V.self), v3 = vr.loadUnaligned(fromByteOffset: 192, as: V.self)
            let a0 = V(repeating: p[j]), a1 = V(repeating: p[64 + j])
            c00.addProduct(a0, v0); c01.addProduct(a0, v1); c02.addProduct(a0, v2); c03.addProduct(a0, v3)
            c10.addProduct(a1, v0); c11.addProduct(a1, v1); c12.addProduct(a1, v2); c13.addProduct(a1, v3)
            let a2 = V(repeating: p[128 + j]), a3 = V(repeating: p[192 + j])
            c20.addProduct(a2, v0); c21.addProduct(a2, v1); c22.addProduct(a2, v2); c23.addProduct(a2, v3)
            c30.addProduct(a3, v0); c31.addProduct(a3, v1); c32.addProduct(a3, v2); c33.addProduct(a3, v3)
        }
        func store(_ c: V, _ r: Int, _ g: Int) { or.storeBytes(of: c, toByteOffset: (r * ldo + g * 16) * 4, as: V.self) }
        store(c00, 0, 0); store(c01, 0, 1); store(c02, 0, 2); store(c03, 0, 3)
        store(c10, 1, 0); store(c11, 1, 1); store(c12, 1, 2); store(c13, 1, 3)
        store(c20, 2, 0); store(c21, 2, 1); store(c22, 2, 2); store(c23, 2, 3)
        store(c30, 3, 0); store(c31, 3, 1); store(c32, 3, 2); store(c33, 3, 3)
    }

    /// As `pv4x64` for 16 output columns.
    @inline(__always)
    func pv4x16(p: UnsafePointer<Float>, keys: Int, v: UnsafePointer<Float>, ldv: Int,
                o: UnsafeMutablePointer<Float>, ldo: Int, scale: SIMD4<Float>) {
        typealias V = SIMD16<Float>
        let or = UnsafeMutableRawPointer(o)
        var c0 = or.loadUnaligned(as: V.self) * scale[0]
        var c1 = or.loadUnaligned(fromByteOffset: ldo * 4, as: V.self) * scale[1]
        var c2 = or.loadUnaligned(fromByteOffset: 2 * ldo * 4, as: V.self) * scale[2]
        var c3 = or.loadUnaligned(fromByteOffset: 3 * ldo * 4, as: V.self) * scale[3]
        for j in 0..<keys {
            let x = UnsafeRawPointer(v + j * ldv).loadUnaligned(as: V.self)
            c0.addProduct(V(repeating: p[j]), x); c1.addProduct(V(repeating: p[64 + j]), x)
            c2.addProduct(V(repeating: p[128 + j]), x); c3.addProduct(V(repeating: p[192 + j]), x)
        }
        or.storeBytes(of: c0, as: V.self)
        or.storeBytes(of: c1, toByteOffset: ldo * 4, as: V.self)
        or.storeBytes(of: c2, toByteOffset: 2 * ldo * 4, as: V.self)
        or.storeBytes(of: c3, toByteOffset: 3 * ldo * 4, as: V.self)
    }
}

/// One worker's scratch: the output rows, running maxima and sums of one query block, a
/// 4 x 64 tile of scores, and (for the block mass) each row's per-key-block sums and the
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
        p = floats(AttentionOperands.rowTile * 64)
        massSum = floats(mass ? rows * npad : 0)
        massMax = floats(mass ? rows * npad : 0)
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
