import Foundation
import Testing
@testable import NablaCore

@Suite("file summaries (nabla info)")
struct FileSummaryTests {
    @Test("Q/K with the grid in __metadata__")
    func qk() throws {
        let dir = try TempDir()
        let path = dir.file("qk.safetensors")
        let values = [Float](repeating: 0.25, count: 2 * 256 * 8)
        try SafetensorsFile.write([("q", .bfloat16, [1, 2, 256, 8], values), ("k", .bfloat16, [1, 2, 256, 8], values)],
                                  metadata: ["grid": "4x8x8", "order": "block", "block": "1x8x8"], to: path)
        let s = try FileSummary(path: path)
        #expect(s.format == "safetensors")
        #expect(s.kind == .qk)
        #expect(s.problem == nil)
        #expect(s.tensors == [FileSummary.Tensor(key: "q", dtype: .bfloat16, shape: [1, 2, 256, 8]),
                              FileSummary.Tensor(key: "k", dtype: .bfloat16, shape: [1, 2, 256, 8])])
        #expect(s.grid == TokenGrid(t: 4, h: 8, w: 8) && s.heads == 2 && s.headDim == 8)
        #expect(s.blocks?.count == 4)
        #expect(s.metadata.map(\.key) == ["block", "grid", "order"])
        let text = s.text()
        #expect(text.contains("reads as   Q/K from q, k"))
        #expect(text.contains("grid from __metadata__"))
        #expect(text.contains("block grid 4x1x1, N = 4"))
        #expect(s.json().rendered().contains("\"kind\": \"qk\""))

        let big = try FileSummary(path: path, block: BlockShape(bt: 1, bh: 16, bw: 16))
        #expect(big.blocks?.count == 4 && big.problem == nil)
        #expect(big.text().contains("edge       edge pad: block 1x16x16 does not divide grid 4x8x8; block grid 4x1x1 (ceiling)"))
        let crop = try FileSummary(path: path, block: BlockShape(bt: 1, bh: 16, bw: 16), edge: .crop)
        #expect(crop.blocks == nil && crop.problem?.text().contains("block 1x16x16 is larger than grid 4x8x8") == true)
    }

    @Test("a latent, with its layout and the reason for it")
    func latent() throws {
        let dir = try TempDir()
        let path = try LatentFixture(c: 16, t: 2, h: 20, w: 24).write("tyxc", to: dir, name: "l.npy")
        let s = try FileSummary(path: path)
        #expect(s.format == "npy" && s.kind == .latent)
        #expect(s.reading?.text().contains("[T, H, W, C]") == true)
        #expect(s.reading?.text().contains("channels last") == true)
        #expect(s.grid == TokenGrid(t: 2, h: 10, w: 12))
        #expect(s.blocks?.description == "2x2x2" && s.problem == nil)
        #expect(s.text().contains("edge pad: block 1x8x8 does not divide grid 2x10x12"))
        let fits = try FileSummary(path: path, block: BlockShape(bt: 1, bh: 2, bw: 4))
        #expect(fits.problem == nil && fits.blocks?.count == 30)
        let overridden = try FileSummary(path: path, layout: LayoutOptions(axes: "c t y x"),
                                         synthesis: SynthesisOptions(patch: PatchShape(pt: 1, ph: 1, pw: 1)))
        #expect(overridden.reading?.text().contains("named by axes 'c t y x' (given by the caller)") == true)
        #expect(overridden.grid == TokenGrid(t: 20, h: 24, w: 16))
    }

    @Test("files nabla cannot use say why")
    func unusable() throws {
        let dir = try TempDir()
        let rank3 = dir.file("q.npy")
        try NPY.write([Float](repeating: 0, count: 2 * 64 * 8), shape: [2, 64, 8], to: rank3)
        let s = try FileSummary(path: rank3)
        #expect(s.kind == .none)
        #expect(s.problem?.text().contains("not a video latent") == true)
        #expect(s.problem?.text().contains("Q and K are read from two files") == true)
        #expect(s.text().contains("reads as   nothing: "))

        let many = dir.file("m.safetensors")
        try SafetensorsFile.write([("a", .float32, [1], [0]), ("b", .int32, [1], [0])], metadata: [:], to: many)
        let m = try FileSummary(path: many)
        #expect(m.kind == .none && m.tensors.count == 2)
        #expect(m.problem?.text().contains("not q and k") == true)

        let ints = dir.file("i.npy")
        try NPY.write([Int32](repeating: 0, count: 16 * 2 * 4 * 4), shape: [16, 2, 4, 4], to: ints)
        #expect(try FileSummary(path: ints).problem?.text().contains("floating point") == true)

        let junk = try dir.write("junk.npy", Array("not a tensor file".utf8))
        #expect(throws: NablaError.self) { try FileSummary(path: junk) }
    }
}
