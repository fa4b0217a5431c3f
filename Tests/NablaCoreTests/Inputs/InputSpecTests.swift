import Foundation
import Testing
@testable import NablaCore

@Suite("input specs: Q/K, latents, one file, the sample")
struct InputSpecTests {
    /// A small Q/K safetensors file (`[1, heads, S, D]`, raster, grid in metadata), with `v` when asked.
    func qkFile(_ dir: TempDir, v: Bool = false) throws -> String {
        let path = dir.file("qk.safetensors")
        let values = (0..<(2 * 64 * 8)).map { Float($0 % 13) / 13 }
        var tensors: [(key: String, dtype: DType, shape: [Int], values: [Float])] =
            [("q", .float32, [1, 2, 64, 8], values), ("k", .float32, [1, 2, 64, 8], values)]
        if v { tensors.append(("v", .float32, [1, 2, 64, 8], values)) }
        try SafetensorsFile.write(tensors, metadata: ["grid": "1x8x8", "order": "raster"], to: path)
        return path
    }

    func error(_ body: () throws -> Void) -> NablaError? { nablaError(body) }

    @Test("one file: q and k make Q/K (with v when present), anything else a latent")
    func resolveFile() throws {
        let dir = try TempDir()
        let qk = try qkFile(dir)
        #expect(try InputSpec(source: .file(qk)).resolved().source ==
                .tensors(q: TensorSource(path: qk, key: "q"), k: TensorSource(path: qk, key: "k"), v: nil))
        let qkv = try qkFile(dir, v: true)
        #expect(try InputSpec(source: .file(qkv)).resolved().source ==
                .tensors(q: TensorSource(path: qkv, key: "q"), k: TensorSource(path: qkv, key: "k"), v: TensorSource(path: qkv, key: "v")))

        let npy = try LatentFixture(c: 4, t: 2, h: 4, w: 4).write("ctyx", to: dir, name: "lat.npy")
        #expect(try InputSpec(source: .file(npy)).resolved().source == .latent(TensorSource(path: npy)))

        let single = dir.file("one.safetensors")
        try SafetensorsFile.write([("latents", .float32, [1, 4, 2, 4, 4], [Float](repeating: 0.5, count: 128))], metadata: [:], to: single)
        #expect(try InputSpec(source: .file(single)).resolved().source == .latent(TensorSource(path: single)))

        let many = dir.file("many.safetensors")
        try SafetensorsFile.write([("a", .float32, [2], [1, 2]), ("b", .float32, [2], [1, 2])], metadata: [:], to: many)
        let e = error { _ = try InputSpec(source: .file(many)).resolved() }
        #expect(e?.code == .missingTensor)
        #expect(e?.message.contains("not q and k") == true)
        #expect(e?.message.contains("a, b") == true)
    }

    @Test("a latent loads through the stand-in layer, as a file or FILE:KEY")
    func latentLoads() throws {
        let dir = try TempDir()
        let fixture = LatentFixture(c: 4, t: 2, h: 8, w: 8)
        let options = SynthesisOptions(heads: 2, headDim: 8, seed: 3)
        let expected = try AttentionStandIn.input(from: fixture.latent, options: options)
        let npy = try fixture.write("ctyx", to: dir, name: "lat.npy")
        let st = dir.file("lat.safetensors")
        let (shape, values) = fixture.stored("tyxc")
        try SafetensorsFile.write([("latent", .float32, shape, values), ("other", .float32, [1], [0])], metadata: [:], to: st)
        for spec in [InputSpec(source: .file(npy), synthesis: options),
                     InputSpec(source: .latent(TensorSource(path: npy)), synthesis: options),
                     InputSpec(source: .latent(TensorSource(path: st, key: "latent")), synthesis: options)] {
            let input = try spec.load()
            #expect(input.q.denseArray() == expected.q.denseArray())
            #expect(input.k.denseArray() == expected.k.denseArray())
            #expect(input.v != nil)
            #expect(input.preview != nil)
        }
        // Independent of the stand-in's arithmetic, from its documented formula: the latent is
        // standardised per channel first, so a latent scaled and shifted per channel (a_c > 0),
        // loaded by the same path, gives the same Q and K up to rounding, while another
        // latent gives other ones.
        let plane = 2 * 8 * 8
        let affine = LatentFixture(c: 4, t: 2, h: 8, w: 8, values: fixture.values.enumerated().map { i, v in
            let c = Float(i / plane)
            return (c + 0.5) * v + (c - 1)
        })
        let a = try InputSpec(source: .file(npy), synthesis: options).load()
        let b = try InputSpec(source: .file(try affine.write("ctyx", to: dir, name: "affine.npy")), synthesis: options).load()
        let c = try InputSpec(source: .file(try LatentFixture(c: 4, t: 2, h: 8, w: 8, seed: 99).write("ctyx", to: dir, name: "other.npy")),
                              synthesis: options).load()
        let qa = a.q.denseArray(), qb = b.q.denseArray(), qc = c.q.denseArray()
        let scale = qa.map { abs($0) }.max() ?? 1
        #expect(zip(qa, qb).allSatisfy { abs($0 - $1) <= 1e-4 * scale }, "per-channel affine changed Q")
        #expect(zip(a.k.denseArray(), b.k.denseArray()).allSatisfy { abs($0 - $1) <= 1e-4 * scale })
        #expect(zip(qa, qc).filter { abs($0 - $1) > 1e-2 * scale }.count > qa.count / 2, "another latent gave the same Q")
        #expect(InputSpec(source: .file(npy)).displayName == "lat.npy")
        #expect(InputSpec(source: .latent(TensorSource(path: st, key: "latent"))).displayName == "lat.safetensors:latent")
    }

    @Test("options that do not apply to the input are refused")
    func misplacedOptions() throws {
        let dir = try TempDir()
        let npy = try LatentFixture(c: 4, t: 2, h: 4, w: 4).write("ctyx", to: dir, name: "lat.npy")
        let grid = error { _ = try InputSpec(source: .file(npy), layout: LayoutOptions(grid: TokenGrid(t: 2, h: 2, w: 2))).load() }
        #expect(grid?.code == .badArgument)
        #expect(grid?.message.contains("grid 2x2x2 (given by the caller) applies to Q/K tensors") == true)
        #expect(grid?.wording.mentions.first == SettingMention(setting: .grid, value: "2x2x2", role: .value(source: .caller)))

        let qk = try qkFile(dir)
        let heads = error { _ = try InputSpec(source: .file(qk), synthesis: SynthesisOptions(heads: 4)).load() }
        #expect(heads?.code == .badArgument)
        #expect(heads?.wording.mentions.map(\.setting) == [.heads, .headDim, .patch, .seed])
        #expect(try InputSpec(source: .file(qk)).load().heads == 2)

        let axes = error { _ = try InputSpec(source: .sample, layout: LayoutOptions(axes: "c t y x")).load() }
        #expect(axes?.code == .badArgument)
        #expect(axes?.message.contains("built-in sample") == true)
    }
}
