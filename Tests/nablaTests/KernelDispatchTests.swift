import Foundation
import NablaCore
import Testing

/// The kernel level chosen at start: `NABLA_CPU` forcing one (a bad value is one line and
/// exit 64, never an illegal instruction), and, where qemu-user is installed, the one
/// binary run on emulated CPUs without AVX-512 (Haswell: AVX2) and without AVX
/// (Westmere: SSE4.2), giving the native results.
@Suite("kernel dispatch")
struct KernelDispatchTests {
    @Test("bench --cpu names the level in use: the best by default, the forced one with NABLA_CPU")
    func benchCPU() throws {
        let best = KernelVariant.best.name
        let runs = KernelVariant.supported.map(\.name).joined(separator: ", ")
        let r = try NablaProcess.run(["bench", "--cpu"], environment: ["NABLA_CPU": ""])
        #expect(r.status == 0 && r.stdout == "kernels: \(best) (this CPU runs \(runs))\n", "\(r.stdout) \(r.stderr)")
        for name in KernelVariant.supported.map(\.name) {
            let forced = try NablaProcess.run(["bench", "--cpu"], environment: ["NABLA_CPU": name])
            #expect(forced.status == 0 && forced.stdout.hasPrefix("kernels: \(name) "), "\(forced.stdout)")
        }
    }

    @Test("an unknown NABLA_CPU is one line naming it and exit 64", arguments: ["avx1024", "AVX2", "neon-ish"])
    func unknownLevel(value: String) throws {
        for command in [["mask", "--threshold", "0.9"], ["bench", "--cpu"], ["info"]] {
            let r = try NablaProcess.run(command, environment: ["NABLA_CPU": value])
            #expect(r.status == 64)
            #expect(r.stdout.isEmpty)
            #expect(r.stderr == "error: NABLA_CPU=\(value) is not a kernel level; use one of \(KernelVariant.names.joined(separator: ", "))\n")
        }
    }

    @Test("a level of this architecture the CPU cannot run is refused, not run")
    func unsupportedLevel() throws {
        let missing = KernelVariant.names.filter { name in !KernelVariant.supported.contains { $0.name == name } }
        guard let name = missing.first else {
            // This machine runs every level; the emulated Westmere below checks the refusal.
            return
        }
        let r = try NablaProcess.run(["mask", "--threshold", "0.9"], environment: ["NABLA_CPU": name])
        #expect(r.status == 64)
        #expect(r.stderr.hasPrefix("error: NABLA_CPU=\(name): this CPU cannot run the \(name) kernels (it runs "))
    }

    // MARK: - Emulated CPUs

    static let qemu: String? = {
        #if arch(x86_64)
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        return paths.map { "\($0)/qemu-x86_64" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        #else
        return nil
        #endif
    }()

    static var samples: String {
        Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Samples").path
    }

    /// `nabla ARGS` natively, or under qemu-x86_64 with CPU model `cpu`; NABLA_CPU unset (empty).
    static func run(_ arguments: [String], cpu: String?) throws -> NablaProcess.Result {
        let launcher = cpu.map { [Self.qemu!, "-cpu", $0] } ?? []
        return try NablaProcess.run(arguments, environment: ["NABLA_CPU": ""], launcher: launcher)
    }

    /// Every number named `name` in `json`, the times and rates (`timing_ms`, `fastest_ms`,
    /// `cpu_ms`, `gflops`, which hold a `recall` too) left out.
    static func numbers(_ name: String, in json: String) -> [Double] {
        let json = json.replacingOccurrences(of: #""(timing_ms|fastest_ms|cpu_ms|gflops)": \{[^}]*\}"#, with: "", options: .regularExpression)
        let pattern = "\"\(name)\": (-?[0-9.eE+-]+)"
        let regex = try! NSRegularExpression(pattern: pattern)
        return regex.matches(in: json, range: NSRange(json.startIndex..., in: json)).map {
            Double(String(json[Range($0.range(at: 1), in: json)!]))!
        }
    }

    /// Under `qemu-x86_64 -cpu MODEL` (Westmere: no AVX, so the baseline level; Haswell:
    /// AVX2 and FMA, no AVX-512), the same binary picks that level and gives the native
    /// densities, and attention within 1e-5. Two stand-in heads of the built-in sample for
    /// the mask, one head of its small latent for attention: emulation runs 100-500x slower.
    @Test("under an emulated CPU the binary picks its level and matches the native results",
          .enabled(if: qemu != nil, "qemu-x86_64 not installed (apt install qemu-user); .ci/run installs it"),
          arguments: [("Westmere", "baseline"), ("Haswell", "avx2")])
    func emulated(model: String, level: String) throws {
        let chosen = try Self.run(["bench", "--cpu"], cpu: model)
        #expect(chosen.status == 0 && chosen.stdout.hasPrefix("kernels: \(level) "), "\(chosen.stdout) \(chosen.stderr)")
        // A level this CPU lacks is refused with exit 64, no illegal instruction.
        let forced = try NablaProcess.run(["bench", "--cpu"], environment: ["NABLA_CPU": "avx512"],
                                          launcher: [Self.qemu!, "-cpu", model])
        #expect(forced.status == 64 && forced.stderr.contains("error: NABLA_CPU=avx512: this CPU cannot run the avx512 kernels"))

        let mask = ["mask", "--threshold", "0.9", "--heads", "2", "--json"]
        let native = try Self.run(mask, cpu: nil), emulated = try Self.run(mask, cpu: model)
        #expect(native.status == 0 && emulated.status == 0, "\(emulated.stderr)")
        let densities = Self.numbers("density", in: native.stdout)
        #expect(densities.count >= 3)
        #expect(Self.numbers("density", in: emulated.stdout) == densities)

        let dirs = try (Fixtures.temporaryDirectory("attend-native"), Fixtures.temporaryDirectory("attend-\(model)"))
        defer { for d in [dirs.0, dirs.1] { try? FileManager.default.removeItem(atPath: d) } }
        let attend = ["attend", "--latent", Self.samples + "/latent-small.npy", "--heads", "2", "--head-select", "0",
                      "--threshold", "0.9", "--recall", "--json", "--out"]
        let a = try Self.run(attend + [dirs.0], cpu: nil), b = try Self.run(attend + [dirs.1], cpu: model)
        #expect(a.status == 0 && b.status == 0, "\(b.stderr)")
        #expect(Self.numbers("density", in: b.stdout) == Self.numbers("density", in: a.stdout))
        let recallA = Self.numbers("recall", in: a.stdout), recallB = Self.numbers("recall", in: b.stdout)
        #expect(recallA.count == recallB.count && !recallA.isEmpty)
        for (x, y) in zip(recallA, recallB) { #expect(abs(x - y) <= 1e-5) }
        let outA = try NPY.read(path: dirs.0 + "/out.npy").doubles(), outB = try NPY.read(path: dirs.1 + "/out.npy").doubles()
        #expect(outA.count == outB.count && !outA.isEmpty)
        let worst = zip(outA, outB).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "largest difference \(worst)")
    }
}
