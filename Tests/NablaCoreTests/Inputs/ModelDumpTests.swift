import Foundation
import Testing
@testable import NablaCore

/// Whole-model dumps: pairs found in files and folders, `FILE:PREFIX`, and every pair
/// computed with its outputs and `model.json`.
@Suite("Whole-model dumps")
struct ModelDumpTests {
    static func torch(_ name: String) -> String { "\(TorchArchiveTests.root)/\(name)" }
    static let modelPairs = ["blocks.0.step10", "blocks.0.step30", "blocks.1.step10", "blocks.1.step30"]

    /// The masks of the pair computed from NumPy's copies of the tensors PyTorch saved:
    /// a path through the .npy reader only.
    static func expectedReport(_ prefix: String, settings: MaskSettings) throws -> MaskReport {
        let dir = "\(TorchArchiveTests.root)/expected"
        let spec = InputSpec(source: .tensors(q: TensorSource(path: "\(dir)/model.pt__\(prefix).q.npy"),
                                              k: TensorSource(path: "\(dir)/model.pt__\(prefix).k.npy"), v: nil))
        return try MaskReport(input: spec.load(), block: .nabla, settings: settings)
    }

    @Test func pairsOfATorchDumpInFileOrder() throws {
        let dump = try ModelDump(path: Self.torch("model.pt"))
        #expect(dump.pairs.map(\.prefix) == Self.modelPairs)
        #expect(dump.pairs[0].q == TensorSource(path: Self.torch("model.pt"), key: "blocks.0.step10.q"))
        #expect(try ModelDump(path: Self.torch("arrays.npz")).pairs.map(\.prefix) == [""])
        #expect(try ModelDump(path: Self.torch("qk_nested.pt")).pairs.map { [$0.prefix, $0.v?.key] } == [["attn", "attn.v"]])
        #expect(try ModelDump(path: Self.torch("nested.pt")).pairs.isEmpty)
    }

    @Test func pairsOfAFolderInNaturalOrder() throws {
        let dir = try TempDir()
        let qk = Self.torch("qk.pt")
        for name in ["blocks.10.pt", "blocks.2.pt"] {
            try FileManager.default.copyItem(atPath: qk, toPath: dir.file(name))
        }
        // Loose .npy files name their tensor by the file name; a lone q has no pair.
        try NPY.write([Float](repeating: 1, count: 8), shape: [1, 1, 1, 2, 4], to: dir.file("solo.q.npy"))
        try NPY.write([Float](repeating: 1, count: 8), shape: [1, 1, 1, 2, 4], to: dir.file("x.q.npy"))
        try NPY.write([Float](repeating: 2, count: 8), shape: [1, 1, 1, 2, 4], to: dir.file("x.k.npy"))
        let dump = try ModelDump(path: dir.path)
        #expect(dump.pairs.map(\.prefix) == ["blocks.2", "blocks.10", "x"])
        #expect(dump.pairs[2].k == TensorSource(path: dir.file("x.k.npy")))
        // FILE:PREFIX on a folder.
        let input = try InputSpec(source: .latent(TensorSource(path: dir.path, key: "blocks.10"))).load()
        #expect(input.heads == 2 && input.grid == TokenGrid(t: 2, h: 8, w: 16))
    }

    @Test func filePrefixSelectsOnePairAsItsOwnFilesWould() throws {
        let settings = MaskSettings(threshold: 0.6, sta: nil)
        for prefix in Self.modelPairs {
            let spec = InputSpec(source: .latent(TensorSource(parsing: Self.torch("model.pt") + ":" + prefix)))
            #expect(spec.displayName == "model.pt:\(prefix)")
            let got = try MaskReport(input: spec.load(), block: .nabla, settings: settings)
            let expected = try Self.expectedReport(prefix, settings: settings)
            #expect(got.mask.kept == expected.mask.kept, "\(prefix)")
            #expect(got.mask.statistics == expected.mask.statistics, "\(prefix)")
        }
    }

    @Test func aDumpWithSeveralPairsNamesThem() {
        expectNablaError(.missingTensor, ["model.pt holds 4 Q/K pairs", "model.pt:PREFIX", "--all", "blocks.1.step30"]) {
            try InputSpec(source: .file(Self.torch("model.pt"))).load()
        }
        expectNablaError(.missingTensor, ["has no Q/K pair 'blocks.9'", "pairs: blocks.0.step10"]) {
            try ModelDump(path: Self.torch("model.pt")).pair("blocks.9")
        }
    }

    @Test func everyPairWithOutputsAndModelJSON() throws {
        let dir = try TempDir()
        let settings = MaskSettings(threshold: 0.6, sta: nil)
        let dump = try ModelDump(path: Self.torch("model.pt"))
        var seen: [Int] = []
        let report = try ModelReport.compute(dump: dump, base: InputSpec(source: .sample), block: .nabla,
                                             settings: settings, directory: dir.path) { i, _ in seen.append(i) }
        #expect(seen == [0, 1, 2, 3])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("model.json")))) as? [String: Any]
        let pairs = try #require(json?["pairs"] as? [[String: Any]])
        #expect(pairs.map { $0["prefix"] as? String } == Self.modelPairs)
        var kept = 0, total = 0
        for (i, prefix) in Self.modelPairs.enumerated() {
            let expected = try Self.expectedReport(prefix, settings: settings)
            let mask = try NPY.read(path: dir.file("\(prefix)/mask.npy")).int64s()
            #expect(mask == expected.mask.kept.map { Int64($0) }, "\(prefix)")
            let heads = try #require(pairs[i]["heads"] as? [[String: Any]])
            #expect(heads.map { $0["density"] as? Double } == expected.mask.statistics.density, "\(prefix)")
            // JSON numbers keep 15 significant digits.
            let mass = heads.map { $0["mass_kept"] as? Double ?? .nan }
            #expect(zip(mass, expected.mask.statistics.massKept).allSatisfy { abs($0 - $1) < 1e-12 }, "\(prefix)")
            #expect(report.pairs[i].density == expected.mask.statistics.density)
            kept += Int(mask.reduce(0, +))
            total += mask.count
        }
        #expect(json?["density"] as? Double == Double(kept) / Double(total))
    }

    @Test func outputFoldersStayInside() {
        #expect(ModelDump.directoryName("blocks.3") == "blocks.3")
        #expect(ModelDump.directoryName("../etc") == ".._etc")
        #expect(ModelDump.directoryName("..") == "_..")
        #expect(ModelDump.directoryName("") == "_")
        #expect(ModelDump.directoryName("a/b") == "a_b")
    }
}
