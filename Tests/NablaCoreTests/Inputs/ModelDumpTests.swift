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
        #expect(ModelDump.directoryName("../etc") == "%2E.%2Fetc")
        #expect(ModelDump.directoryName("..") == "%2E.")
        #expect(ModelDump.directoryName("") == "_")
        #expect(ModelDump.directoryName("a/b") == "a%2Fb")
    }

    @Test func leadingLayerAndStepAxesSplitIntoPairs() throws {
        let dir = try TempDir()
        // q, k: [layers 2, steps 3, heads 2, T 2, H 8, W 16, D 8], values set by position.
        let shape = [2, 3, 2, 2, 8, 16, 8]
        let count = shape.reduce(1, *)
        let q = (0..<count).map { Float(sin(Double($0) * 0.013) * Double(1 + $0 / (count / 6))) }
        let k = (0..<count).map { Float(cos(Double($0) * 0.007)) }
        let path = dir.file("lead.safetensors")
        try SafetensorsFile.write([("q", .float32, shape, q), ("k", .float32, shape, k)], metadata: [:], to: path)
        let axes = "l n h t y x d"
        let dump = try ModelDump(path: path, axes: axes)
        #expect(dump.pairs.map(\.prefix) == ["layer0.step0", "layer0.step1", "layer0.step2", "layer1.step0", "layer1.step1", "layer1.step2"])
        let settings = MaskSettings(threshold: 0.7, sta: nil)
        let inner = Array(shape.dropFirst(2)), per = inner.reduce(1, *)
        for (i, pair) in dump.pairs.enumerated() {
            // The slice written on its own, as NumPy's q[l, n] would be.
            try NPY.write(Array(q[(i * per)..<((i + 1) * per)]), shape: inner, to: dir.file("q\(i).npy"))
            try NPY.write(Array(k[(i * per)..<((i + 1) * per)]), shape: inner, to: dir.file("k\(i).npy"))
            let alone = try MaskReport(input: InputSpec(source: .tensors(q: TensorSource(path: dir.file("q\(i).npy")),
                                                                        k: TensorSource(path: dir.file("k\(i).npy")), v: nil)).load(),
                                       block: .nabla, settings: settings)
            var layout = LayoutOptions()
            layout.axes = axes
            let spec = InputSpec(source: .latent(TensorSource(path: path, key: pair.prefix)), layout: layout)
            let sliced = try MaskReport(input: spec.load(), block: .nabla, settings: settings)
            #expect(sliced.mask.kept == alone.mask.kept, "\(pair.prefix)")
            #expect(sliced.mask.statistics == alone.mask.statistics, "\(pair.prefix)")
        }
        // Without a pair, a file split by --axes names its pairs.
        var layout = LayoutOptions()
        layout.axes = axes
        expectNablaError(.missingTensor, ["holds 6 Q/K pairs", "layer1.step2"]) {
            try InputSpec(source: .file(path), layout: layout).load()
        }
        expectNablaError(.badArgument, ["l and n come first"]) { try ModelDump(path: path, axes: "h l t y x d") }
        expectNablaError(.badShape, ["index 3 is outside axis 1 of size 3"]) {
            try TensorSource(path: path, key: "q").load().leading([0, 3])
        }
    }

    @Test func aFortranOrderSliceIsGathered() throws {
        // [2, 3] in Fortran order: memory 0 3 1 4 2 5 holds rows [0 1 2] and [3 4 5].
        let t = makeTensor(leBytes([0, 3, 1, 4, 2, 5]), dtype: .float32, shape: [2, 3], fortranOrder: true)
        #expect(try t.leading([1]).floats() == [3, 4, 5])
        #expect(try t.leading([0]).floats() == [0, 1, 2])
        let c = makeTensor(leBytes([0, 1, 2, 3, 4, 5]), dtype: .float32, shape: [2, 3])
        #expect(try c.leading([1]).floats() == [3, 4, 5])
        #expect(try c.leading([1]).bytes.baseAddress == c.bytes.baseAddress! + 12)
    }

    @Test func recallAgainstANaiveSoftmax() throws {
        // model.pt's pairs: [2 heads, T 2, H 8, W 16, D 16], raster; blocks 1x8x8 -> 2x1x2, N = 4.
        let dump = try ModelDump(path: Self.torch("model.pt"))
        let settings = MaskSettings(threshold: 0.5, sta: nil)
        let pair = dump.pairs[1]
        let (result, report) = try ModelReport.compute(pair, of: dump, base: InputSpec(source: .sample), block: .nabla,
                                                       settings: settings, recall: .exact)
        let recall = try #require(result.recall)
        let q = try NPY.read(path: "\(TorchArchiveTests.root)/expected/model.pt__\(pair.prefix).q.npy").doubles()
        let k = try NPY.read(path: "\(TorchArchiveTests.root)/expected/model.pt__\(pair.prefix).k.npy").doubles()
        let (s, d, n) = (256, 16, 4)
        func block(_ i: Int) -> Int { let (t, y, x) = (i / 128, (i / 16) % 8, i % 16); return (t * 1 + y / 8) * 2 + x / 8 }
        for h in 0..<2 {
            var perBlock = [Double](repeating: 0, count: n)
            for i in 0..<s {
                var scores = (0..<s).map { j in (0..<d).reduce(0.0) { $0 + q[(h * s + i) * d + $1] * k[(h * s + j) * d + $1] } / 4.0 }
                let top = scores.max()!
                scores = scores.map { exp($0 - top) }
                let total = scores.reduce(0, +)
                let a = block(i)
                let kept = (0..<s).filter { report.mask.kept[(h * n + a) * n + block($0)] != 0 }.reduce(0.0) { $0 + scores[$1] }
                perBlock[a] += kept / total / 64
            }
            let expected = perBlock.reduce(0, +) / Double(n)
            #expect(abs(recall[h] - expected) < 1e-6, "head \(h): \(recall[h]) vs \(expected)")
        }
        #expect(recall.allSatisfy { $0 < 0.999 }, "a threshold of 0.5 drops blocks, so recall is below 1: \(recall)")
    }
}
