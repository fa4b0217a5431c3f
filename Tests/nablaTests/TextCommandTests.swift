import Foundation
import NablaCore
import Testing

/// Joint text tokens at the command line (issue 18, item 2): a capture-like safetensors
/// file whose `__metadata__` names the grid and the text (as python/nabla_capture writes
/// it) opens without flags; `--text-tokens` names them for a file without metadata; the
/// outputs are on the joint blocks; bad counts and commands that do not handle text yet
/// are one line and exit 64.
@Suite("joint text tokens, commands")
struct TextCommandTests {
    static let grid = TokenGrid(t: 2, h: 12, w: 16)

    /// `[1, Nt + S, heads, D]` float32 Q and K; `metadata` as a capture writes it.
    static func file(_ dir: String, text nt: Int, metadata: [String: String]) throws -> String {
        let s = nt + grid.tokens, heads = 2, d = 8
        func values(_ seed: Double) -> [Float] {
            (0..<(s * heads * d)).map { i in Float(sin(Double(i % 7919) * 0.37 + seed) + 0.5 * cos(Double(i / (heads * d)) * 0.11)) }
        }
        let path = dir + "/joint.safetensors"
        try SafetensorsFile.write([("q", .float32, [1, s, heads, d], values(1)), ("k", .float32, [1, s, heads, d], values(2))],
                                  metadata: metadata, to: path)
        return path
    }

    @Test("a capture's metadata gives grid and text: mask.npy and the BlockMask rows are on the joint blocks")
    func fromMetadata() throws {
        let dir = try Fixtures.temporaryDirectory("text")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Self.file(dir, text: 70, metadata: ["grid": "2x12x16", "order": "raster", "text_tokens": "70", "text_place": "end"])
        let info = try NablaProcess.run(["info", path])
        #expect(info.status == 0 && info.stdout.contains("text tokens 70@end beside the video tokens"), "\(info.stdout)\(info.stderr)")
        let r = try NablaProcess.run(["mask", path, "--thr", "0.9", "--out", dir + "/m"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("text       text 70@end: 70 text tokens at the end of the sequence, 2 text block(s)"), "\(r.stdout)")
        // Video: 2x12x16 with 1x8x8 -> 2x2x2 = 8 blocks (4 partial); text: 2 blocks; joint 10.
        let mask = try NPY.read(path: dir + "/m/mask.npy")
        #expect(mask.shape == [2, 10, 10])
        let kept = mask.floats()
        for h in 0..<2 {
            for a in 0..<10 {
                for b in 0..<10 where a >= 8 || b >= 8 { #expect(kept[(h * 10 + a) * 10 + b] == 1) }
            }
        }
        let num = try NPY.read(path: dir + "/m/kv_num_blocks.npy")
        #expect(num.shape == [2, 10])
        #expect(num.floats()[8] == 10 && num.floats()[9] == 10)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/m/summary.json"))) as? [String: Any])
        let text = try #require(summary["text"] as? [String: Any])
        #expect(text["text_tokens"] as? Int == 70 && text["text_place"] as? String == "end" && text["joint_blocks"] as? Int == 10)
        #expect((text["convention"] as? String)?.contains("text query rows and text key columns are always kept") == true)
    }

    @Test("--text-tokens on a file without metadata; too many is one line and exit 64; other commands refuse text")
    func flag() throws {
        let dir = try Fixtures.temporaryDirectory("text")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Self.file(dir, text: 20, metadata: [:])
        let ok = try NablaProcess.run(["mask", path, "--grid", "2x12x16", "--order", "raster", "--text-tokens", "20", "--thr", "0.8", "--json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("\"text_tokens\":20") || ok.stdout.contains("\"text_tokens\": 20"), "\(ok.stdout)")
        let tooMany = try NablaProcess.run(["mask", path, "--grid", "2x12x16", "--text-tokens", "500@end", "--thr", "0.8"])
        #expect(tooMany.status == 64)
        #expect(tooMany.stderr.contains("text tokens 500@end and --grid 2x12x16 make 884 tokens but the sequence axis of [1, 404, 2, 8] has 404"), "\(tooMany.stderr)")
        #expect(tooMany.stderr.split(separator: "\n").count == 1, "\(tooMany.stderr)")
        // attend, diff, sweep and bench run on text (JointAttendCommandTests); plot does not yet.
        let plot = try NablaProcess.run(["plot", path, "--grid", "2x12x16", "--text-tokens", "20", "--thr", "0.8", "--out", dir + "/p.svg"])
        #expect(plot.status == 64 && plot.stderr.contains("nabla plot does not handle joint text tokens yet"), "\(plot.stderr)")
        let sample = try NablaProcess.run(["mask", "--text-tokens", "5", "--thr", "0.8"])
        #expect(sample.status == 64 && sample.stderr.contains("the built-in sample has no text tokens"), "\(sample.stderr)")
        let bad = try NablaProcess.run(["mask", path, "--grid", "2x12x16", "--text-tokens", "20@middle", "--thr", "0.8"])
        #expect(bad.status == 64 && bad.stderr.contains("place 'middle' is not start or end"), "\(bad.stderr)")
    }
}
