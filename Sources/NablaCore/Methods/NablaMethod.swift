import Foundation

/// NABLA (arXiv 2507.13546): the CDF cut of each row of the pooled map at `threshold`,
/// with an optional STA window OR-ed in. The engine's own cut (`PooledMap.cut`), wrapped:
/// the same mask as `nabla mask --threshold T [--sta W]`. Definition: NABLA.md steps 1-4;
/// reference `nabla_ref.py`.
public struct NablaMethod: SparseMethod {
    public static let name = "nabla"
    public static let parameters = [
        MethodParameter("threshold", .number(range: 0...1, integer: false), default: "0.9",
                        help: "fraction of each row's pooled mass to keep"),
        MethodParameter("sta", .window(optional: true), default: "off", help: "sliding-tile window OR-ed in, in blocks"),
    ]
    public let settings: MaskSettings

    public init(_ values: MethodValues) throws {
        settings = MaskSettings(threshold: try values.number(Self.parameters[0], method: Self.name),
                                sta: try values.window(Self.parameters[1], method: Self.name))
    }

    public init(_ settings: MaskSettings) { self.settings = settings }

    public var sweptValue: Double { settings.threshold }
    public var parameterValues: [String: String] {
        ["threshold": "\(settings.threshold)", "sta": settings.sta?.description ?? "off"]
    }

    /// Thresholds from 0.1 to 0.999 (density grows with the threshold).
    public static func sweep(_ blocks: BlockGrid) -> [NablaMethod] {
        [0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999].map { NablaMethod(MaskSettings(threshold: $0)) }
    }

    public func kept(_ context: MethodContext) throws -> [UInt8]? {
        try context.pooledMap()?.cut(settings).kept
    }
}

/// Sliding Tile Attention alone (Zhang et al., arXiv 2502.04507; hao-ai-lab/FastVideo
/// `fastvideo/attention/backends/sliding_tile_attn.py`): every query block keeps the key
/// blocks within a window of `WTxWHxWW` blocks centred on it, truncated at the borders
/// (`staPattern`, NABLA.md step 4). Static: the grid alone decides.
public struct STAMethod: SparseMethod {
    public static let name = "sta"
    public static let isStatic = true
    public static let parameters = [
        MethodParameter("sta", .window(optional: false), default: nil, help: "window in blocks, odd sizes, e.g. 11x3x3"),
    ]
    public let window: STAWindow

    public init(_ values: MethodValues) throws {
        guard let w = try values.window(Self.parameters[0], method: Self.name) else { preconditionFailure("not optional") }
        window = w
    }

    public init(_ window: STAWindow) { self.window = window }

    /// Blocks in the window, `wt * wh * ww`.
    public var sweptValue: Double { Double(window.wt * window.wh * window.ww) }
    public var parameterValues: [String: String] { ["sta": window.description] }

    /// Density of the window on `blocks`: the product over the axes of the share of block
    /// pairs within the half-width (STA is separable by axis).
    public static func density(_ window: STAWindow, on blocks: BlockGrid) -> Double {
        func axis(_ n: Int, _ w: Int) -> Double {
            let r = w / 2
            var pairs = 0
            for a in 0..<n { pairs += min(n - 1, a + r) - max(0, a - r) + 1 }
            return Double(pairs) / Double(n * n)
        }
        return axis(blocks.tb, window.wt) * axis(blocks.hb, window.wh) * axis(blocks.wb, window.ww)
    }

    /// Nested windows whose densities lie nearest 2%, 5%, 10%, 15%, 20%, 30%, 40%, 50% and
    /// 60%: from 1x1x1, each step widens one axis by 2, the one that adds least, so every
    /// window holds the previous one (recall grows along the sweep).
    public static func sweep(_ blocks: BlockGrid) -> [STAMethod] {
        let maxT = 2 * blocks.tb - 1, maxH = 2 * blocks.hb - 1, maxW = 2 * blocks.wb - 1
        var w = STAWindow(wt: 1, wh: 1, ww: 1)
        var chain = [(w, density(w, on: blocks))]
        while chain.last!.1 < 0.6 && (w.wt < maxT || w.wh < maxH || w.ww < maxW) {
            let grownT = w.wt < maxT ? STAWindow(wt: w.wt + 2, wh: w.wh, ww: w.ww) : nil
            let grownH = w.wh < maxH ? STAWindow(wt: w.wt, wh: w.wh + 2, ww: w.ww) : nil
            let grownW = w.ww < maxW ? STAWindow(wt: w.wt, wh: w.wh, ww: w.ww + 2) : nil
            let options = [grownT, grownH, grownW].compactMap { $0 }.map { ($0, density($0, on: blocks)) }
            guard let next = options.min(by: { $0.1 < $1.1 }) else { break }
            w = next.0
            chain.append(next)
        }
        var chosen: [Int] = []
        for target in [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6] {
            guard let best = chain.indices.min(by: { abs(chain[$0].1 - target) < abs(chain[$1].1 - target) }) else { continue }
            if !chosen.contains(best) { chosen.append(best) }
        }
        return chosen.sorted().map { STAMethod(chain[$0].0) }
    }

    public func kept(_ context: MethodContext) throws -> [UInt8]? {
        let pattern = staPattern(context.blocks, window: window)
        return Array([[UInt8]](repeating: pattern, count: context.heads).joined())
    }
}
