import CNablaKernels
import Foundation

/// The instruction-set level whose kernels (the C target `CNablaKernels`) the engine runs:
/// the attention tiles, the pooled map and pooling.
///
/// One binary holds every level of its architecture — x86-64 `baseline` (SSE2), `avx2`
/// (AVX2 + FMA) and `avx512`, or arm64 `neon` — each compiled from the same C source under
/// a per-function `target` attribute. The level is chosen once, when first used: the best
/// the CPU and OS support (CPUID, and XGETBV for the saved register state), or the one
/// `NABLA_CPU` names. See docs/engine.md for why this mechanism.
///
/// Levels with FMA (`avx2`, `avx512`, `neon`) give bit-identical pooled maps and masks (each
/// dot product and sum runs in the same order with the same roundings); `baseline` rounds
/// multiply and add separately, so its map may differ in the last bits (masks only in rows
/// within `BlockMask.ambiguousMargin` of a tie). Attention agrees across levels to about 1e-6.
public struct KernelVariant: @unchecked Sendable, Equatable, CustomStringConvertible {
    /// `baseline`, `avx2`, `avx512` or `neon`.
    public let name: String
    let isa: nabla_isa
    /// The level's function table (static storage in the C target).
    let table: UnsafePointer<nabla_kernels>

    public var description: String { name }
    public static func == (a: KernelVariant, b: KernelVariant) -> Bool { a.isa == b.isa }

    /// The names `NABLA_CPU` accepts on this architecture, in order of preference (worst first).
    public static var names: [String] {
        #if arch(arm64)
        ["neon"]
        #else
        ["baseline", "avx2", "avx512"]
        #endif
    }

    private static func level(named name: String) -> nabla_isa? {
        switch name {
        case "baseline": NABLA_ISA_BASELINE
        case "avx2": NABLA_ISA_AVX2
        case "avx512": NABLA_ISA_AVX512
        case "neon": NABLA_ISA_NEON
        default: nil
        }
    }

    private init?(isa: nabla_isa) {
        guard let table = nabla_kernels_for(isa) else { return nil }
        self.isa = isa
        self.table = table
        name = String(cString: table.pointee.name)
    }

    /// Every level this CPU and OS can run (on this machine: `baseline`, `avx2`, `avx512`).
    public static var supported: [KernelVariant] {
        names.compactMap { level(named: $0) }.compactMap { KernelVariant(isa: $0) }
    }

    /// The best level this CPU supports.
    public static var best: KernelVariant {
        guard let best = KernelVariant(isa: nabla_isa_best()) else {
            preconditionFailure("no kernel level for this architecture")
        }
        return best
    }

    /// The level `value` (a `NABLA_CPU` setting) names, or the best level when `value` is
    /// `nil` or empty.
    /// - Throws: `NablaError.badArgument`, one line naming `NABLA_CPU`, when `value` names
    ///   no level of this architecture or one this CPU cannot run.
    public static func named(_ value: String?) throws -> KernelVariant {
        guard let value, !value.isEmpty else { return best }
        guard let isa = level(named: value), names.contains(value) else {
            throw NablaError(.badArgument, "NABLA_CPU=\(value) is not a kernel level; use one of \(names.joined(separator: ", "))")
        }
        guard let variant = KernelVariant(isa: isa) else {
            let can = supported.map(\.name).joined(separator: ", ")
            throw NablaError(.badArgument, "NABLA_CPU=\(value): this CPU cannot run the \(value) kernels (it runs \(can))")
        }
        return variant
    }

    /// The level from the environment's `NABLA_CPU` (the best level when unset).
    /// - Throws: as `named(_:)`; the command line checks this at start and exits 64.
    public static func fromEnvironment() throws -> KernelVariant {
        try named(ProcessInfo.processInfo.environment["NABLA_CPU"])
    }

    /// The level the engine uses, chosen once: `NABLA_CPU` when it names a level this CPU
    /// runs, otherwise the best level (a library user with a bad `NABLA_CPU` gets working
    /// kernels; the `nabla` command refuses it at start instead).
    public static let active: KernelVariant = (try? fromEnvironment()) ?? best

    /// The level for the current task: `active`, unless `with(_:_:)` set another.
    public static var current: KernelVariant { override ?? active }

    @TaskLocal static var override: KernelVariant?

    /// Runs `body` with the engine's kernels of `variant` on this task (tests run every
    /// level this way). The choice is read once at the start of each computation and
    /// handed to its worker threads.
    public static func with<R>(_ variant: KernelVariant, _ body: () throws -> R) rethrows -> R {
        try $override.withValue(variant, operation: body)
    }

    /// `active`'s FP32 peak on all cores (`measurePeakFlops`), measured once, on first use
    /// (about 0.2 s): what the terminal app's timing panel gives dense attention as a share of.
    public static let activePeakFlops: Double = active.measurePeakFlops()

    /// Floats per vector register of this level.
    public var floatLanes: Int { Int(table.pointee.float_lanes) }

    /// FP32 FLOP/s of this level's FMA loop (12 independent vector FMA chains) on `threads`
    /// threads (all cores by default), two flops per lane per FMA: the peak the attention
    /// figures are a share of. The loop runs 8 times for about 25 ms each and the fastest
    /// run counts, so that on a shared machine the figure is the machine's, not the load's.
    /// - Complexity: O(1) (a fixed 0.2 s or so).
    public func measurePeakFlops(threads: Int? = nil) -> Double {
        let cores = threads ?? ProcessInfo.processInfo.activeProcessorCount
        let loop = table.pointee.fma_loop!
        // Size one run to about 25 ms from a short calibration run.
        let probe: Int64 = 100_000
        let t0 = ContinuousClock.now
        _ = loop(probe)
        let probeSeconds = max(milliseconds(since: t0) / 1e3, 1e-6)
        let iterations = max(probe, Int64(Double(probe) * 0.025 / probeSeconds))
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: cores)
        defer { sink.deallocate() }
        let shared = UncheckedSendable(sink)
        var fastest = Double.infinity
        for _ in 0..<8 {
            let start = ContinuousClock.now
            DispatchQueue.concurrentPerform(iterations: cores) { c in shared.value[c] = loop(iterations) }
            fastest = min(fastest, milliseconds(since: start) / 1e3)
        }
        // Keep the result observable so the loop is not optimised away.
        if (0..<cores).map({ sink[$0] }).reduce(0, +).isNaN { print("", terminator: "") }
        return Double(cores) * Double(iterations) * 12 * 2 * Double(floatLanes) / fastest
    }
}
