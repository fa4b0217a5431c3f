import Foundation

/// How many query blocks per head `nabla attend --sample` estimates from.
public struct SampleRequest: Sendable, Equatable {
    public enum Size: Sendable, Equatable {
        /// This many blocks per head (all of them when it is more).
        case blocks(Int)
        /// Until every head's recall interval is within `+-halfWidth`
        /// (`AttentionEstimator.advanceUntil`).
        case auto(halfWidth: Double)
    }

    public var size: Size
    /// Estimate the output error too (needs V).
    public var error: Bool
    public var seed: UInt64

    public init(size: Size, error: Bool, seed: UInt64) {
        self.size = size
        self.error = error
        self.seed = seed
    }
}

/// Told how far long attention work is: the stage (`sparse`, `dense`, `recall`,
/// `estimate`), units done and their total (query blocks over all heads; for `estimate
/// +-W`, blocks per head sampled so far of `N`). Called from worker threads.
public typealias AttentionProgress = @Sendable (_ stage: String, _ done: Int, _ total: Int) -> Void

/// Counts the query blocks the kernels start (each polls its `isCancelled` once per block)
/// and passes the count on, at most every 1/16 of the total.
final class ProgressTicks: @unchecked Sendable {
    private let progress: AttentionProgress?
    private let total: Int
    private let lock = NSLock()
    private var count = 0

    init(_ progress: AttentionProgress?, blocks: Int) {
        self.progress = progress
        total = blocks
    }

    /// An `isCancelled` for one kernel run that counts and never cancels.
    func stage(_ name: String) -> () -> Bool {
        guard let progress else { return { false } }
        lock.lock()
        count = 0
        lock.unlock()
        progress(name, 0, total)
        let step = max(1, total / 64)
        return { [self] in
            lock.lock()
            count += 1
            let c = count
            lock.unlock()
            if c % step == 0 { progress(name, min(c, total), total) }
            return false
        }
    }
}

extension AttentionEstimator {
    /// Runs `request` on `operands` and returns the estimator with its blocks done.
    /// - Throws: `NablaError.badArgument` for the error without V.
    static func run(_ request: SampleRequest, operands: AttentionOperands, kept: KeptKeyBlocks,
                    progress: AttentionProgress?) throws -> AttentionEstimator {
        let estimator = try AttentionEstimator(operands: operands, kept: kept, error: request.error, seed: request.seed)
        switch request.size {
        case .blocks(let k):
            let k = min(k, estimator.total)
            let ticks = ProgressTicks(progress, blocks: operands.heads.count * k)
            estimator.advance(to: k, isCancelled: ticks.stage("estimate"))
        case .auto(let w):
            _ = estimator.advanceUntil(halfWidth: w, step: { (e: AttentionEstimator) in
                let widest = e.estimates.map(\.recall.halfWidth).max() ?? .infinity
                progress?("estimate +-" + (widest.isFinite ? String(format: "%.4f", widest) : "?"), e.done, e.total)
            })
        }
        return estimator
    }
}

extension SampledValue {
    /// `[lo, hi]`, or `null` without an interval.
    var ciJSON: JSON {
        ci95.map { .array([.number($0.lowerBound), .number($0.upperBound)]) } ?? .null
    }

    /// `0.8312 +- 0.0040` (`digits` after the point; `format` for the value when given).
    func text(_ digits: Int, format: String? = nil) -> String {
        let value = format.map { String(format: $0, self.value) } ?? fixed(self.value, digits)
        guard let ci95 else { return value + " +- ?" }
        // The interval may be lopsided (the error's, from a square root): the larger side.
        let half = Swift.max(ci95.upperBound - self.value, self.value - ci95.lowerBound)
        return value + " +- " + (format.map { String(format: $0, half) } ?? fixed(half, digits))
    }
}

extension AttentionReport {
    /// The per-head JSON fields of the estimates of slot `h`, replacing the exact ones.
    func estimateFields(_ h: Int) -> [(String, JSON)]? {
        guard let e = estimates?[h] else { return nil }
        var fields: [(String, JSON)] = [
            ("head", .int(headIndices[h])), ("density", .number(kept.density(head: h))),
            ("recall", .number(e.recall.value)), ("recall_ci95", e.recall.ciJSON),
            ("oracle_recall", .number(e.oracle.value)), ("sampled_blocks", .int(e.sampled)),
        ]
        if let l2 = e.relativeL2Error {
            fields += [("relative_l2_error", .number(l2.value)), ("relative_l2_error_ci95", l2.ciJSON)]
        } else {
            fields.append(("relative_l2_error", .null))
        }
        return fields
    }

    /// Top-level JSON fields of the estimates: every head's together, and the sample.
    var estimateSummaryFields: [(String, JSON)] {
        guard let overall = overallEstimate, let first = estimates?.first, let sample = sampleRequest else { return [] }
        var fields: [(String, JSON)] = [("recall_ci95", overall.recall.ciJSON)]
        if let l2 = overall.relativeL2Error { fields.append(("relative_l2_error_ci95", l2.ciJSON)) }
        fields.append(("sample", .object([("sampled_blocks", .int(first.sampled)), ("blocks", .int(first.total)),
                                          ("exact", .bool(first.isExact)), ("seed", .int(Int(truncatingIfNeeded: sample.seed))),
                                          ("stratified_by", .string(operands.joint == nil ? "frame slab" : "frame slab, and the text blocks"))])))
        return fields
    }

    /// The summary's line saying what the estimates rest on.
    var estimateLine: String? {
        guard let first = estimates?.first, let sample = sampleRequest else { return nil }
        if first.isExact { return "sampled    all \(first.total) query blocks per head: recall\(sample.error ? " and error" : "") exact" }
        return "sampled    \(first.sampled) of \(first.total) query blocks per head (stratified by frame, seed \(sample.seed)); +- is the 95% interval"
    }
}
