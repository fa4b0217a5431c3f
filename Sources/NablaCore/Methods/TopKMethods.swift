import Foundation

/// Video Sparse Attention's coarse stage (Zhang et al., "VSA: Faster Video Diffusion with
/// Trainable Sparse Attention", arXiv 2505.13389; hao-ai-lab/FastVideo
/// `fastvideo/attention/backends/video_sparse_attn.py`): Q and K mean-pooled over each
/// tile (a block here), the coarse map `softmax(q_c k_c^T / sqrt(D))`, and per query
/// block the `topk = ceil((1 - VSA_sparsity) * N) = ceil(keep * N)` key blocks of largest
/// coarse score (`torch.topk` on the row). The coarse map is NABLA's pooled map, so this
/// is a fixed count per row where NABLA cuts a fixed mass. Ties go to the lower index;
/// every row keeps at least one block.
public struct VSAMethod: SparseMethod {
    public static let name = "vsa"
    public static let aliases = ["topk"]
    public static let parameters = [
        MethodParameter("keep", .number(range: 0...1, integer: false), default: nil,
                        help: "share of key blocks kept per query block, 1 - VSA_sparsity"),
    ]
    public let keep: Double

    public init(_ values: MethodValues) throws { keep = try values.number(Self.parameters[0], method: Self.name) }
    public init(keep: Double) { self.keep = keep }

    public var sweptValue: Double { keep }
    public var parameterValues: [String: String] { ["keep": "\(keep)"] }

    /// Key blocks kept per row: `ceil(keep * N)`, at least 1.
    public static func count(keep: Double, n: Int) -> Int {
        min(max(Int((keep * Double(n) - 1e-9).rounded(.up)), 1), n)
    }

    public static func sweep(_ blocks: BlockGrid) -> [VSAMethod] {
        keepSweep.map { VSAMethod(keep: $0) }
    }

    /// Kept shares from 2% to 60%.
    static let keepSweep = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6]

    public func kept(_ context: MethodContext) throws -> [UInt8]? {
        guard let map = try context.pooledMap() else { return nil }
        let k = Self.count(keep: keep, n: context.n)
        return MethodContext.topRows(map.probs, heads: map.heads, n: map.n) { _, _ in k }
    }
}

/// The oracle: per query block, the `ceil(keep * N)` key blocks holding the most true
/// attention mass (`TrueBlockMass`, the token-level softmax summed per block). No method
/// keeping as many blocks in a row keeps more of that row's attention; it needs dense
/// scores, so it is a bound, not a method one could run.
public struct OracleMethod: SparseMethod {
    public static let name = "oracle"
    public static let parameters = [
        MethodParameter("keep", .number(range: 0...1, integer: false), default: nil,
                        help: "share of key blocks kept per query block"),
    ]
    public let keep: Double

    public init(_ values: MethodValues) throws { keep = try values.number(Self.parameters[0], method: Self.name) }
    public init(keep: Double) { self.keep = keep }

    public var sweptValue: Double { keep }
    public var parameterValues: [String: String] { ["keep": "\(keep)"] }

    public static func sweep(_ blocks: BlockGrid) -> [OracleMethod] {
        VSAMethod.keepSweep.map { OracleMethod(keep: $0) }
    }

    public func kept(_ context: MethodContext) throws -> [UInt8]? {
        guard let mass = try context.trueMass() else { return nil }
        let k = VSAMethod.count(keep: keep, n: context.n)
        return MethodContext.topRows(mass.mass, heads: context.heads, n: context.n) { _, _ in k }
    }

    /// The oracle with the per-row counts of `other` (`[heads, N, N]`): for comparing a
    /// method with the best mask of the same size, row by row.
    public static func kept(matching other: [UInt8], mass: TrueBlockMass) -> [UInt8] {
        let n = mass.n
        return MethodContext.topRows(mass.mass, heads: mass.heads.count, n: n) { h, a in
            other[((h * n + a) * n)..<((h * n + a + 1) * n)].reduce(0) { $0 + Int($1) }
        }
    }
}
