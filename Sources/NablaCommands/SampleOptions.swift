import ArgumentParser
import NablaCore

/// `--sample N|auto` and `--sample-seed S`: recall estimated from a stratified random
/// sample of query blocks (`AttentionEstimator`, `SampledBlockMass`), shared by `attend`,
/// `sweep` and `mask --all`.
struct SampleOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("With --recall: estimate from N sampled query blocks per head, or 'auto' (until the 95% interval is within +-0.005).", valueName: "N|auto"))
    var sample: String?

    @Option(name: .customLong("sample-seed"), parsing: .unconditional, help: "Seed of --sample's blocks (default 0): the same seed samples the same blocks.")
    var sampleSeed: UInt64?

    /// `--sample` read: a block count (at least 2) or auto.
    var size: SampleRequest.Size? {
        get throws {
            guard let sample else { return nil }
            if sample == "auto" { return .auto(halfWidth: 0.005) }
            guard let k = Int(sample), k >= 2 else {
                throw ValidationError("--sample \(sample): give a number of query blocks per head, at least 2 (an interval needs two), or auto")
            }
            return .blocks(k)
        }
    }

    /// The request for a sweep's recall, `nil` without `--sample`.
    var request: RecallSource.Request? {
        get throws { try size.map { RecallSource.Request(size: $0, seed: sampleSeed ?? 0) } }
    }

    /// Refuses `--sample` without `--recall` and `--sample-seed` without `--sample`, and a
    /// bad `--sample`.
    func validate(recall: Bool) throws {
        if sample != nil && !recall { throw ValidationError("--sample estimates recall: give --recall with it") }
        if sampleSeed != nil && sample == nil { throw ValidationError("--sample-seed goes with --sample") }
        _ = try size
    }

    /// Says once on stderr when `--sample N` covers every block (the figures are exact).
    func noteExact(blocks: Int, joint: Bool = false) throws {
        if case .blocks(let k)? = try size, k >= blocks {
            warn("--sample \(k) covers all \(blocks) query blocks of each head\(joint ? " (text and video)" : ""): the figures are exact")
        }
    }
}
