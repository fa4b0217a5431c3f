import Foundation
import NablaCore
import Testing

/// Issue 18's "done when": a Wan2.1 480p-shaped dump, `[1, 32760, heads, D]` bf16 in
/// diffusers' `[B, S, heads, D]` layout without metadata, opens with only
/// `--grid 21x30x52` (no `--order`: raster, diffusers' order after patchify) and shows
/// partial edge blocks. Fewer heads and a smaller D than Wan's 12 x 128, same S.
@Suite("Wan 480p shape with only --grid")
struct WanShapeTests {
    static func dump(_ dir: String) throws -> String {
        let s = 21 * 30 * 52, heads = 2, d = 16
        // Raster tokens with a smooth dependence on (t, y, x), so the map has structure.
        func values(_ seed: Double) -> [Float] {
            (0..<(s * heads * d)).map { i in
                let tok = i / (heads * d), j = i % d
                let x = Double(tok % 52), y = Double((tok / 52) % 30), t = Double(tok / (52 * 30))
                return Float(sin(0.3 * x + seed * Double(j)) + cos(0.2 * y + Double(j)) + 0.1 * t)
            }
        }
        let path = dir + "/wan480p.safetensors"
        try SafetensorsFile.write([("q", .bfloat16, [1, s, heads, d], values(1)), ("k", .bfloat16, [1, s, heads, d], values(2))],
                                  metadata: [:], to: path)
        return path
    }

    @Test("render (the app's screen) opens it with only --grid, raster, 21x4x7 blocks of which 210 partial")
    func view() throws {
        let dir = try Fixtures.temporaryDirectory("wan")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Self.dump(dir)
        let r = try NablaProcess.run(["render", path, "--grid", "21x30x52", "--size", "160x40"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("edge pad: block 1x8x8 does not divide grid 21x30x52; block grid 21x4x7 (ceiling), 210 partial edge blocks"), "\(r.stdout)")
        let info = try NablaProcess.run(["info", path, "--grid", "21x30x52"])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("raster"), "\(info.stdout)")
    }
}
