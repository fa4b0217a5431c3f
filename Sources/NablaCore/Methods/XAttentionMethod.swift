import Foundation

/// XAttention (Xu et al., arXiv 2503.16428; mit-han-lab/x-attention
/// `xattn/src/Xattention.py` `xattn_estimate` with `select_mode="inverse"`, and
/// `xattn/src/utils.py` `find_blocks_chunked`; OpenVINO's CPU reference
/// `src/core/reference/include/openvino/reference/xattention.hpp`), non-causal as the
/// authors run it on HunyuanVideo (`eval/HunyuanVideo/hyvideo/modules/attenion.py`).
///
/// On the tokens in block order (each block's `B` tokens contiguous, as the kernels see
/// them), per head:
/// 1. Antidiagonal scores: query group `i` (tokens `i*s ..< (i+1)*s`) against key group
///    `j`, `x[i, j] = sum_m q[i*s + s-1-m] . k[j*s + m] / (sqrt(D) * s)` for `m < s`
///    (`s` = `stride`; the query reshaped in reverse, the key in order).
/// 2. `softmax` over all `S / s` key groups of each query group.
/// 3. Block importance: the sum of step 2 over the `B/s x B/s` groups of each block pair.
/// 4. Per query block, sort the key blocks descending; keep a block while the sum of the
///    blocks before it is `< threshold * (row total)`. As the code does (its unselected
///    entries are scattered to index 0), key block 0 is always kept too.
/// `stride` must divide the block's token count `B`. Partial edge blocks: see
/// `blockScores(_:stride:)`.
/// - Complexity: `2 D S^2 / s` flops per head for step 1.
public struct XAttentionMethod: SparseMethod {
    public static let name = "xattention"
    public static let aliases = ["xattn"]
    public static let parameters = [
        MethodParameter("threshold", .number(range: 0...1, integer: false), default: "0.9",
                        help: "share of each row's antidiagonal score kept (XAttention's tau)"),
        MethodParameter("stride", .number(range: 1...256, integer: true), default: "8",
                        help: "antidiagonal stride, dividing the tokens of a block"),
    ]
    public let threshold: Double
    public let stride: Int

    public init(_ values: MethodValues) throws {
        threshold = try values.number(Self.parameters[0], method: Self.name)
        stride = Int(try values.number(Self.parameters[1], method: Self.name))
    }

    public init(threshold: Double, stride: Int = 8) {
        self.threshold = threshold
        self.stride = stride
    }

    public var sweptValue: Double { threshold }
    public var parameterValues: [String: String] { ["threshold": "\(threshold)", "stride": "\(stride)"] }

    public static func sweep(_ blocks: BlockGrid) -> [XAttentionMethod] {
        let s = blocks.block.tokens % 8 == 0 ? 8 : 1
        return [0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999].map { XAttentionMethod(threshold: $0, stride: s) }
    }

    public func kept(_ context: MethodContext) throws -> [UInt8]? {
        let b = context.blockTokens
        guard b % stride == 0 else {
            throw NablaError(.badArgument, "method xattention: --stride \(stride) does not divide the \(b) tokens of block \(context.blocks.block); give a divisor of \(b)")
        }
        let n = context.n
        guard let scores = context.scores("xattention stride \(stride)", make: { Self.blockScores(context, stride: stride) }) else { return nil }
        var kept = [UInt8](repeating: 0, count: context.heads * n * n)
        kept.withUnsafeMutableBufferPointer { k in
            Parallel.forEach(context.heads * n) { row in
                Self.select(scores[(row * n)..<((row + 1) * n)], threshold: threshold, into: k.baseAddress! + row * n)
            }
        }
        return kept
    }

    /// Step 4 on one row of block importances.
    static func select(_ row: ArraySlice<Double>, threshold: Double, into out: UnsafeMutablePointer<UInt8>) {
        let base = row.startIndex, n = row.count
        let total = row.reduce(0, +)
        let order = (0..<n).sorted { x, y in
            let px = row[base + x], py = row[base + y]
            return px > py || (px == py && x < y)
        }
        var before = 0.0
        for b in order {
            guard before < threshold * total else { break }
            out[b] = 1
            before += row[base + b]
        }
        out[0] = 1
    }

    /// Steps 1-3 for every head: `[heads, N, N]` block importances, row `a` summing to
    /// `count_a / s` (`B / s` for a whole block).
    ///
    /// Partial edge blocks (`--edge pad`; the code pads the sequence to whole blocks with
    /// zeros, which would give padded groups logits of 0): here groups never cross a
    /// block and hold only real tokens. A block of `c` tokens has `ceil(c / s)` groups, the
    /// last of `r = c mod s` tokens when `s` does not divide `c`. A pair of groups of
    /// lengths `ri`, `rj` sums the antidiagonal of its `L = min(ri, rj)` pairs (the query
    /// group reversed, as for whole groups) and takes their mean, `/ (sqrt(D) * L)`; a key
    /// group's logit gets `+ log(rj / s)` (it stands for `rj` keys, as a partial key
    /// block's pooled logit gets `log(count / B)`); a query group's softmax row counts
    /// `ri / s` in its block's importance. On whole blocks this is the published
    /// definition exactly.
    static func blockScores(_ context: MethodContext, stride s: Int) -> [Double]? {
        let d = context.input.headDim, n = context.n
        // The stride groups in block order: start, length and block of each.
        var start: [Int] = [], length: [Int] = [], owner: [Int] = []
        var first = [Int](repeating: 0, count: n + 1)
        for b in 0..<n {
            first[b] = start.count
            var p = context.blockStarts[b]
            while p < context.blockStarts[b + 1] {
                let len = min(s, context.blockStarts[b + 1] - p)
                start.append(p)
                length.append(len)
                owner.append(b)
                p += len
            }
        }
        first[n] = start.count
        let groups = start.count
        let keyOffset = length.map { Foundation.log(Double($0) / Double(s)) }
        // `1 / (sqrt(D) * L)` by pair length `L` (index `L`); whole groups use `L = s`
        // exactly as the published definition scales.
        let scales = (0...s).map { 1 / (Double(d).squareRoot() * Double(max($0, 1))) }
        var out = [Double](repeating: 0, count: context.heads * n * n)
        var cancelled = false
        for h in 0..<context.heads {
            let q = context.tokens("q", head: h), k = context.tokens("k", head: h)
            // Reshaped rows, [groups, s * D], zero past a short group's length: queries
            // reversed inside each group, keys in order.
            var rq = [Float](repeating: 0, count: groups * s * d), rk = rq
            for g in 0..<groups {
                let len = length[g]
                for m in 0..<len {
                    for j in 0..<d {
                        rq[(g * s + m) * d + j] = q[(start[g] + len - 1 - m) * d + j]
                        rk[(g * s + m) * d + j] = k[(start[g] + m) * d + j]
                    }
                }
            }
            let width = s * d
            out.withUnsafeMutableBufferPointer { o in
                rq.withUnsafeBufferPointer { rqp in
                    rk.withUnsafeBufferPointer { rkp in
                        let stop = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
                        stop.initialize(to: false)
                        defer { stop.deallocate() }
                        // One query block per item: its groups' softmaxes summed per key block.
                        Parallel.forEach(n) { a in
                            if context.isCancelled() { stop.pointee = true; return }
                            var logits = [Double](repeating: 0, count: groups)
                            let row = o.baseAddress! + (h * n + a) * n
                            for gi in first[a]..<first[a + 1] {
                                let qrow = rqp.baseAddress! + gi * width
                                var top = -Double.infinity
                                for gj in 0..<groups {
                                    let l = Double(methodDot(qrow, rkp.baseAddress! + gj * width, width)) * scales[min(length[gi], length[gj])]
                                        + keyOffset[gj]
                                    logits[gj] = l
                                    top = max(top, l)
                                }
                                var sum = 0.0
                                for gj in 0..<groups {
                                    let e = Foundation.exp(logits[gj] - top)
                                    logits[gj] = e
                                    sum += e
                                }
                                let weight = Double(length[gi]) / Double(s)
                                for gj in 0..<groups { row[owner[gj]] += weight * logits[gj] / sum }
                            }
                        }
                        if stop.pointee { cancelled = true }
                    }
                }
            }
            if cancelled { return nil }
        }
        return out
    }
}

/// `sum a[i] * b[i]` for `i < count`, eight lanes at a time.
@inline(__always)
func methodDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 8 <= count {
        acc += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < count {
        s += a[i] * b[i]
        i += 1
    }
    return s
}
