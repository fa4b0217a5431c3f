import Foundation

/// A mask's recall in every head and over all heads: exact (`ci95` `nil`, `sampled`
/// `nil`) or estimated from `sampled` of `total` query blocks per head with 95% intervals.
public struct RecallFigures: Sendable, Equatable {
    /// `[heads]`, in the input's head order.
    public let perHead: [SampledValue]
    /// The mean over heads.
    public let overall: SampledValue
    /// Query blocks per head the estimate rests on, `nil` when exact.
    public let sampled: Int?
    /// Query blocks per head, `N`.
    public let total: Int

    public var values: [Double] { perHead.map(\.value) }

    public init(perHead: [SampledValue], overall: SampledValue, sampled: Int?, total: Int) {
        self.perHead = perHead
        self.overall = overall
        self.sampled = sampled
        self.total = total
    }

    /// Exact figures: `values` per head, their mean over all heads.
    public init(exact values: [Double], total: Int) {
        let mean = values.reduce(0, +) / Double(max(values.count, 1))
        self.init(perHead: values.map { SampledValue(value: $0, ci95: nil) }, overall: SampledValue(value: mean, ci95: nil),
                  sampled: nil, total: total)
    }
}

/// Where a sweep's recall comes from: the true block mass of every query block
/// (`TrueBlockMass`, `2 D S^2` flops per head) or of a sample of them (`SampledBlockMass`,
/// `2 D B S` per sampled block). One source serves every mask of a sweep.
public enum RecallSource {
    case exact(TrueBlockMass)
    case sampled(SampledBlockMass)

    /// How `--sample` asks for an estimate: a block count or `auto` (`SampleRequest.Size`),
    /// and the seed of the sample.
    public struct Request: Sendable, Equatable {
        public var size: SampleRequest.Size
        public var seed: UInt64
        public init(size: SampleRequest.Size, seed: UInt64 = 0) {
            self.size = size
            self.seed = seed
        }
    }

    /// The sampled source for `request` on `input`'s heads, advanced to its block count,
    /// or under `auto` until every mask of `autoMasks` has its recall within the
    /// half-width in every head (with `overall`, in the mean over heads).
    /// `progress(doneHeads, heads)` follows the groups of heads of a block count.
    /// - Throws: as `SampledBlockMass.init` and `advance`; `CancellationError` when
    ///   cancelled.
    public static func sample(_ request: Request, input: QKInput, blocks: BlockGrid, autoMasks: [KeptKeyBlocks],
                              overall: Bool = false, isCancelled: () -> Bool = { false },
                              progress: (Int, Int) -> Void = { _, _ in },
                              step: (SampledBlockMass) -> Void = { _ in }) throws -> RecallSource {
        let mass = try SampledBlockMass(input: input, blocks: blocks, seed: request.seed)
        let finished: Bool
        switch request.size {
        case .blocks(let k):
            finished = try mass.advance(to: k, isCancelled: isCancelled, progress: progress)
            step(mass)
        case .auto(let w):
            finished = try mass.advanceUntil(halfWidth: w, of: autoMasks, overall: overall, isCancelled: isCancelled, step: step)
        }
        guard finished else { throw CancellationError() }
        return .sampled(mass)
    }

    /// The recall of `kept` (rows of every input head).
    /// - Complexity: O(heads * N) plus the kept blocks exact; O(heads * sampled * N) sampled.
    public func recall(of kept: KeptKeyBlocks) -> RecallFigures {
        switch self {
        case .exact(let mass):
            let r = mass.recall(of: kept)
            return RecallFigures(exact: mass.heads.indices.map { r.recall(slot: $0) }, total: mass.n)
        case .sampled(let mass):
            // Every block sampled: exact, said as such (no interval).
            let exact = mass.done == mass.total
            func shown(_ v: SampledValue) -> SampledValue { exact ? SampledValue(value: v.value, ci95: nil) : v }
            return RecallFigures(perHead: mass.recall(of: kept).map(shown), overall: shown(mass.overallRecall(of: kept)),
                                 sampled: exact ? nil : mass.done, total: mass.total)
        }
    }
}

/// `0.8312 +-0.0061`, or `0.8312` for an exact value.
public func recallText(_ v: SampledValue, digits: Int = 4) -> String {
    let value = String(format: "%.\(digits)f", v.value)
    guard let ci = v.ci95 else { return value }
    return value + String(format: " +-%.\(digits)f", (ci.upperBound - ci.lowerBound) / 2)
}

/// `recall_ci95: [lo, hi]` of an estimate, nothing for an exact value (JSON reports).
func ciFields(_ v: SampledValue?) -> [(String, JSON)] {
    guard let ci = v?.ci95 else { return [] }
    return [("recall_ci95", .array([.number(ci.lowerBound), .number(ci.upperBound)]))]
}
