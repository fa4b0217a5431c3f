import Foundation
import NablaCore
import Testing

/// A diffusers-shaped bf16 dump on a grid the block does not divide (issue 18's "done
/// when", at a small shape: `[1, S, heads, D]` bf16 with only `--grid` and the order):
/// every command opens it with partial edge blocks and says so; `--edge crop` drops and
/// says the rest; attend writes outputs of the kept tokens.
@Suite("grids the block does not divide")
struct EdgeCommandTests {
    static let grid = TokenGrid(t: 3, h: 17, w: 23)

    static func dump(_ dir: String, v: Bool = false) throws -> String {
        let s = grid.tokens, heads = 2, d = 16
        func values(_ seed: Int) -> [Float] {
            (0..<(s * heads * d)).map { i in Float(sin(Double(i % 9973) * 0.7 + Double(seed)) + 0.3 * cos(Double(i / (heads * d)) * 0.05)) }
        }
        var items: [SafetensorsFile.Item] = [("q", .bfloat16, [1, s, heads, d], values(1)), ("k", .bfloat16, [1, s, heads, d], values(2))]
        if v { items.append(("v", .bfloat16, [1, s, heads, d], values(3))) }
        let path = dir + "/wan-like.safetensors"
        try SafetensorsFile.write(items, metadata: [:], to: path)
        return path
    }

    @Test("view (as render draws it) opens the dump with only --grid and --order, with partial edge blocks")
    func view() throws {
        let dir = try Fixtures.temporaryDirectory("edge")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Self.dump(dir)
        let r = try NablaProcess.run(["render", path, "--grid", "3x17x23", "--order", "raster", "--size", "160x40"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("edge pad: block 1x8x8 does not divide grid 3x17x23; block grid 3x3x3 (ceiling), 15 partial edge blocks"))
        let crop = try NablaProcess.run(["render", path, "--grid", "3x17x23", "--order", "raster", "--size", "160x40",
                                         "--keys", ":edge crop<Enter>"])
        #expect(crop.stdout.contains("edge crop: block 1x8x8 does not divide grid 3x17x23; kept 3x16x16 (768 tokens), dropped 405 tokens"))
    }

    @Test("mask --out: rows for the padded sequence, and summary.json says how to load them")
    func maskFiles() throws {
        let dir = try Fixtures.temporaryDirectory("edge")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Self.dump(dir)
        let r = try NablaProcess.run(["mask", path, "--grid", "3x17x23", "--order", "raster", "--thr", "0.9", "--out", dir + "/m"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("edge       edge pad"))
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/m/summary.json"))) as? [String: Any])
        #expect(summary["edge"] as? String == "pad" && summary["n"] as? Int == 27)
        let flex = try #require(summary["flex_attention"] as? [String: Any])
        #expect(flex["padded_length"] as? Int == 27 * 64 && flex["real_length"] as? Int == 1173)
        #expect((flex["mask_mod"] as? String)?.contains("real[kv_idx]") == true)
    }

    @Test("attend --edge crop writes [heads, S_kept, D]; --edge on a grid that divides is said once")
    func attendCrop() throws {
        let dir = try Fixtures.temporaryDirectory("edge")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Self.dump(dir, v: true)
        let r = try NablaProcess.run(["attend", path, "--grid", "3x17x23", "--order", "raster", "--thr", "0.9",
                                      "--edge", "crop", "--out", dir + "/a"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("dropped 405 tokens: rows 16..<17 of every frame, columns 16..<23 of every frame"))
        let out = try NPY.read(path: dir + "/a/out.npy")
        #expect(out.shape == [2, 768, 16])
        let divides = try NablaProcess.run(["sweep", "--edge", "pad", "--thresholds", "0.5", "--measure", "none"])
        #expect(divides.status == 0)
        #expect(divides.stderr.components(separatedBy: "has no effect").count == 2, "\(divides.stderr)")
    }
}
