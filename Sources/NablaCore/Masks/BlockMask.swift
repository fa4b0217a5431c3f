/// The per-row choices of the cut: the threshold and the optional STA window.
public struct MaskSettings: Hashable, Sendable, CustomStringConvertible {
    /// Fraction of each row's pooled mass to keep, in `[0, 1]`.
    public var threshold: Double
    /// Sliding-tile window OR-ed into every head's mask, or `nil`.
    public var sta: STAWindow?

    public init(threshold: Double, sta: STAWindow? = nil) {
        precondition((0...1).contains(threshold), "threshold must be in [0, 1]")
        self.threshold = threshold
        self.sta = sta
    }

    /// `"thr 0.90, STA 11x3x3"` (or `STA off`).
    public var description: String { "thr \(fixed(threshold, 2)), STA \(sta.map(\.description) ?? "off")" }
}

/// Which key blocks every query block keeps, for every head (NABLA.md steps 3 and 4),
/// with the statistics derived from it.
///
/// Layout: `kept` is `[heads, N, N]` (1 kept, 0 dropped), rows are query blocks and
/// columns key blocks, both numbered raster over the block grid.
public struct BlockMask: Sendable {
    public let blocks: BlockGrid
    public let heads: Int
    public let settings: MaskSettings
    public let kept: [UInt8]
    /// `[heads, N]`: distance of the nearest running sum (last excluded) to `1 - thr`.
    /// Rows below `BlockMask.ambiguousMargin` may legitimately differ between correct
    /// implementations.
    public let margin: [Double]
    public let statistics: MaskStatistics
    /// Wall times of `cut`, `sta` and `stats`.
    public let times: StageTimes

    /// Margins below this are within float rounding of the cut (NABLA.md, Precision).
    public static let ambiguousMargin = 1e-5

    public var n: Int { blocks.count }

    @inlinable public func isKept(head h: Int, query a: Int, key b: Int) -> Bool {
        kept[(h * n + a) * n + b] != 0
    }
}
