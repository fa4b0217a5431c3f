import Foundation
import NablaCore
import Testing

@Suite("nabla info")
struct InfoCommandTests {
    @Test("describes a Q/K file and a latent, as text and JSON")
    func files() throws {
        let dir = try Fixtures.temporaryDirectory("info")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let latent = dir + "/latent.npy"
        try NPY.write([Float](repeating: 0.5, count: 16 * 2 * 16 * 16), shape: [1, 16, 2, 16, 16], to: latent)
        let text = try NablaProcess.run(["info", latent])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("latent [B, C, T, H, W]"))
        #expect(text.stdout.contains("token grid 2x8x8"))
        let json = try NablaProcess.run(["info", latent, "--json", "--patch", "1x1x1"])
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(obj["kind"] as? String == "latent")
        #expect(obj["grid"] as? [Int] == [2, 16, 16])
        #expect(obj["n"] as? Int == 8)
    }

    @Test("the engine's settings are spelled as options: given ones as flags, metadata as metadata")
    func settingsAsFlags() throws {
        let dir = try Fixtures.temporaryDirectory("info")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let latent = dir + "/latent.npy"
        try NPY.write([Float](repeating: 0.5, count: 16 * 2 * 16 * 16), shape: [16, 2, 16, 16], to: latent)
        let axes = try NablaProcess.run(["info", latent, "--axes", "c t y x"])
        #expect(axes.stdout.contains("named by --axes 'c t y x'"), "\(axes.stdout)")
        #expect(axes.stdout.contains("open with  nabla mask --latent \(latent) --axes 'c t y x' --threshold 0.9"))

        let flat = dir + "/flat.safetensors"
        let values = [Float](repeating: 0.25, count: 2 * 128 * 8)
        try SafetensorsFile.write([("q", .float32, [2, 128, 8], values), ("k", .float32, [2, 128, 8], values)],
                                  metadata: ["grid": "2x8x8", "order": "raster"], to: flat)
        let meta = try NablaProcess.run(["info", flat])
        #expect(meta.stdout.contains("grid from __metadata__ of \(flat)"), "\(meta.stdout)")
        let given = try NablaProcess.run(["info", flat, "--grid", "2x8x8"])
        #expect(given.stdout.contains("grid from --grid"), "\(given.stdout)")
        let wrong = try NablaProcess.run(["mask", flat, "--grid", "2x4x4", "--threshold", "0.9"])
        #expect(wrong.stderr == "error: \(flat):q: --grid 2x4x4 has 32 tokens but no axis of [2, 128, 8] has that many (the sequence axis, as read, has 128); a layout naming the axes may read it: --axes 'h s d' (2 heads, 128 tokens, head dim 8) or --axes 's h d' (2 tokens, 128 heads, head dim 8)\n")

        let rank3 = dir + "/q.npy"
        try NPY.write(values, shape: [2, 128, 8], to: rank3)
        let hint = try NablaProcess.run(["info", rank3])
        #expect(hint.stdout.contains("hint       open Q and K as two files: nabla mask q.npy k.npy"), "\(hint.stdout)")
    }

    @Test("a file that is no tensor file fails with one line")
    func junk() throws {
        let dir = try Fixtures.temporaryDirectory("info")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let junk = dir + "/notes.txt"
        try Data("hello".utf8).write(to: URL(fileURLWithPath: junk))
        let result = try NablaProcess.run(["info", junk])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: \(junk): "))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test("without a file, describes the built-in sample and its heads")
    func sample() throws {
        let result = try NablaProcess.run(["info", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(obj["kind"] as? String == "sample")
        #expect(obj["grid"] as? [Int] == [16, 32, 48])
        #expect((obj["recipes"] as? [Any])?.count == 8)
    }

    @Test("a torch.save file lists its keys as typed and its pairs; a folder is read as a dump")
    func dumps() throws {
        let torch = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/torch").path
        let model = try NablaProcess.run(["info", torch + "/model.pt"])
        #expect(model.status == 0, "\(model.stderr)")
        #expect(model.stdout.contains("(torch, "))
        #expect(model.stdout.contains("blocks.1.step30.k  float32  [2, 2, 8, 16, 16]"))
        #expect(model.stdout.contains("pairs      4: blocks.0.step10, blocks.0.step30, blocks.1.step10, blocks.1.step30"))
        #expect(model.stdout.contains("nabla mask \(torch)/model.pt:blocks.0.step10 --threshold 0.9"))
        let npz = try NablaProcess.run(["info", torch + "/arrays_compressed.npz"])
        #expect(npz.stdout.contains("(npz, ") && npz.stdout.contains("Q/K from q, k"))

        let dir = try Fixtures.temporaryDirectory("info-folder")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["blocks.10.pt", "blocks.2.pt"] {
            try FileManager.default.copyItem(atPath: torch + "/qk.pt", toPath: dir + "/" + name)
        }
        let folder = try NablaProcess.run(["info", dir])
        #expect(folder.status == 0, "\(folder.stderr)")
        #expect(folder.stdout.contains("pairs      2"))
        let lines = folder.stdout.split(separator: "\n")
        let two = try #require(lines.firstIndex { $0.contains("blocks.2  q ") })
        let ten = try #require(lines.firstIndex { $0.contains("blocks.10  q ") })
        #expect(two < ten, "natural order")
        let json = try NablaProcess.run(["info", dir, "--json"])
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(obj["kind"] as? String == "model" && (obj["pairs"] as? [Any])?.count == 2)
        // FILE:PREFIX names a pair of the dump: that pair is described, not "no tensor".
        let pair = try NablaProcess.run(["info", torch + "/model.pt:blocks.1.step30"])
        #expect(pair.status == 0, "\(pair.stderr)")
        #expect(pair.stdout.contains("4 Q/K pairs PREFIX.q, PREFIX.k; pair blocks.1.step30 (axes"), "\(pair.stdout)")
        #expect(pair.stdout.contains("grid       2x8x16 (256 tokens), 2 heads, head dim 16"), "\(pair.stdout)")
        #expect(pair.stdout.contains("nabla mask \(torch)/model.pt:blocks.1.step30 --threshold 0.9"))
        let pairJSON = try NablaProcess.run(["info", torch + "/model.pt:blocks.1.step30", "--json"])
        let pairObj = try #require(try JSONSerialization.jsonObject(with: Data(pairJSON.stdout.utf8)) as? [String: Any])
        #expect(pairObj["pair"] as? String == "blocks.1.step30")
        let missing = try NablaProcess.run(["info", torch + "/model.pt:blocks.9"])
        MaskCommandTests.expectError(missing, contains: "no tensor 'blocks.9'")
        // A hostile file: one line, non-zero exit.
        let hostile = try NablaProcess.run(["info", torch + "/bad/hostile_os_system.pt"])
        MaskCommandTests.expectError(hostile, contains: "refusing to import posix.system")
    }
}
