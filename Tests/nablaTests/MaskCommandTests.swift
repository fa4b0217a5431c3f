import Foundation
import NablaCore
import Testing

/// `nabla mask` as a script would use it: outputs, summaries, and one-line errors for
/// bad input.
@Suite("nabla mask command")
struct MaskCommandTests {
    /// Writes a small raster-layout Q and K (`[heads, T, H, W, D]`, float32) into `dir`,
    /// letting `edit` change Q's values first.
    static func writeQK(_ dir: String, shape: [Int] = [2, 2, 16, 16, 8], edit: (inout [Float]) -> Void = { _ in }) throws
        -> (q: String, k: String)
    {
        let count = shape.reduce(1, *)
        var q = (0..<count).map { Float(sin(Double($0) * 0.37)) }
        let k = (0..<count).map { Float(cos(Double($0) * 0.11)) }
        edit(&q)
        try NPY.write(q, shape: shape, to: dir + "/q.npy")
        try NPY.write(k, shape: shape, to: dir + "/k.npy")
        return (dir + "/q.npy", dir + "/k.npy")
    }

    /// Asserts a failed run printed exactly one line, starting `error:` and containing `text`.
    static func expectError(_ r: NablaProcess.Result, contains text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status != 0, sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "expected one line, got: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("error: "), "got: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(text), "expected '\(text)' in: \(r.stderr)", sourceLocation: sourceLocation)
    }

    @Test("writes the five outputs and a readable summary")
    func outputsAndSummary() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (q, k) = try Self.writeQK(dir)
        let r = try NablaProcess.run(["mask", q, k, "--threshold", "0.8", "--sta", "1x1x1", "--out", dir + "/out"])
        #expect(r.status == 0, "\(r.stderr)")
        for name in ["mask.npy", "kv_num_blocks.npy", "kv_indices.npy", "frame_coverage.npy", "summary.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/out/" + name), "missing \(name)")
        }
        #expect(r.stdout.contains("block      1x8x8 -> block grid 2x2x2, N = 8"))
        #expect(r.stdout.contains("thr 0.80, STA 1x1x1"))
        #expect(r.stdout.contains("head   density   mass kept"))
        // The summary agrees with the mask it wrote.
        let mask = try NPY.read(path: dir + "/out/mask.npy").int64s()
        let summary = try String(contentsOfFile: dir + "/out/summary.json", encoding: .utf8)
        let density = try #require(firstJSONNumber(named: "density", in: summary))
        #expect(density == Double(mask.reduce(0, +)) / Double(mask.count))
        #expect(mask.allSatisfy { $0 == 0 || $0 == 1 })
    }

    @Test("--json prints one object with density, heads and per-stage timing")
    func json() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (q, k) = try Self.writeQK(dir)
        let started = Date()
        let r = try NablaProcess.run(["mask", q, k, "--threshold", "0.5", "--json"])
        let wallMilliseconds = Date().timeIntervalSince(started) * 1000
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.split(separator: "\n").count == 1)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let heads = try #require(obj["heads"] as? [[String: Any]])
        #expect(heads.count == 2)
        #expect(heads.allSatisfy { $0["density"] is NSNumber && $0["mass_kept"] is NSNumber })
        let timing = try #require(obj["timing_ms"] as? [String: NSNumber])
        for stage in ["total", "pool", "map", "cut", "sta", "stats", "block_mask"] {
            #expect(timing[stage] != nil, "no \(stage) timing")
        }
        // Independent bounds: every stage took non-negative time, the pooling of 2 heads of
        // 512 tokens took some, and all of it fits inside the process's run as the test saw it
        // (a unit slip, seconds or microseconds for milliseconds, breaks one of these).
        let values = timing.mapValues(\.doubleValue)
        #expect(values.values.allSatisfy { $0 >= 0 && $0.isFinite })
        #expect(values["pool"]! > 0 && values["map"]! > 0)
        #expect(values["total"]! < wallMilliseconds, "total \(values["total"]!) ms in a \(wallMilliseconds) ms run")
        #expect(values["total"]! >= values.filter { $0.key != "total" }.values.max()!)
    }

    @Test("bad input gives one clear error line")
    func errors() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (q, k) = try Self.writeQK(dir)

        Self.expectError(try NablaProcess.run(["mask", dir + "/none.npy", k, "--threshold", "0.9"]),
                         contains: "none.npy: cannot open: No such file or directory")
        Self.expectError(try NablaProcess.run(["mask", q, k, "--threshold", "1.5"]), contains: "outside [0, 1]")
        Self.expectError(try NablaProcess.run(["mask", q, k, "--threshold", "nan"]), contains: "outside [0, 1]")
        Self.expectError(try NablaProcess.run(["mask", q, k, "--threshold", "0.9", "--block", "1x32x32", "--edge", "crop"]),
                         contains: "--edge crop: block 1x32x32 is larger than grid 2x16x16 in an axis")
        Self.expectError(try NablaProcess.run(["mask", q, k, "--threshold", "0.9", "--edge", "cut"]), contains: "--edge")
        Self.expectError(try NablaProcess.run(["mask", q, k, "--threshold", "0.9", "--block", "1x0x8"]),
                         contains: "--block")
        Self.expectError(try NablaProcess.run(["mask", q, k, "--threshold", "0.9", "--sta", "3x3"]), contains: "--sta")
        Self.expectError(try NablaProcess.run(["mask", q, k]), contains: "--threshold")

        // Q and K of different shapes.
        try NPY.write([Float](repeating: 0, count: 2 * 2 * 16 * 8 * 8), shape: [2, 2, 16, 8, 8], to: dir + "/small.npy")
        Self.expectError(try NablaProcess.run(["mask", q, dir + "/small.npy", "--threshold", "0.9"]),
                         contains: "Q and K disagree in shape")
        // A flat sequence without a grid, and without an order.
        try NPY.write([Float](repeating: 0, count: 2 * 512 * 8), shape: [2, 512, 8], to: dir + "/flat.npy")
        Self.expectError(try NablaProcess.run(["mask", dir + "/flat.npy", dir + "/flat.npy", "--threshold", "0.9"]),
                         contains: "--grid TxHxW")
        // With the grid alone the order is raster (diffusers' order after patchify).
        let rasterByDefault = try NablaProcess.run(["mask", dir + "/flat.npy", dir + "/flat.npy", "--grid", "2x16x16", "--threshold", "0.9"])
        #expect(rasterByDefault.status == 0 && rasterByDefault.stdout.contains("(512 tokens, raster)"), "\(rasterByDefault.stderr)")
        // A shape that fits no layout.
        try NPY.write([Float](repeating: 0, count: 64), shape: [8, 8], to: dir + "/2d.npy")
        Self.expectError(try NablaProcess.run(["mask", dir + "/2d.npy", dir + "/2d.npy", "--threshold", "0.9"]),
                         contains: "fits none of the accepted layouts")
        // A truncated file.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: q))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: dir + "/cut.npy"))
        Self.expectError(try NablaProcess.run(["mask", dir + "/cut.npy", k, "--threshold", "0.9"]), contains: "cut.npy")
    }

    @Test("NaN or infinity in Q is an error naming the tensor and the first bad index")
    func nonFinite() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Flat index of [1, 0, 3, 5, 2] in [2, 2, 16, 16, 8].
        let flat = (((1 * 2 + 0) * 16 + 3) * 16 + 5) * 8 + 2
        let (q, k) = try Self.writeQK(dir) { $0[flat] = .nan; $0[flat + 9] = .infinity }
        Self.expectError(try NablaProcess.run(["mask", q, k, "--threshold", "0.9"]),
                         contains: "q.npy: non-finite value nan at [1, 0, 3, 5, 2]")
        let (q2, _) = try Self.writeQK(dir) { $0[7] = -.infinity }
        Self.expectError(try NablaProcess.run(["mask", k, q2, "--threshold", "0.9"]),
                         contains: "q.npy: non-finite value -inf at [0, 0, 0, 0, 7]")
    }

    @Test("a key that is not in the file lists the keys that are")
    func missingKey() throws {
        let file = Fixtures.path("golden", "bf16-safetensors", "qk.safetensors")
        let r = try NablaProcess.run(["mask", file + ":q", file + ":query", "--order", "block", "--threshold", "0.9"])
        Self.expectError(r, contains: "query")
        #expect(r.stderr.contains("q") && r.stderr.contains("k"))
    }
}

/// `nabla mask --all` and `FILE:PREFIX` on a whole-model dump written by PyTorch.
@Suite("nabla mask on whole-model dumps")
struct ModelDumpCommandTests {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/torch/model.pt").path

    @Test func allPairsWriteFoldersAndModelJSON() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try NablaProcess.run(["mask", Self.model, "--all", "--threshold", "0.6", "--out", dir])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("(4 Q/K pairs)"))
        #expect(r.stdout.contains("blocks.1.step30"))
        for prefix in ["blocks.0.step10", "blocks.0.step30", "blocks.1.step10", "blocks.1.step30"] {
            #expect(FileManager.default.fileExists(atPath: "\(dir)/\(prefix)/mask.npy"), "\(prefix)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/model.json"))) as? [String: Any]
        #expect((json?["pairs"] as? [Any])?.count == 4)
        // One pair selected as FILE:PREFIX gives the density model.json lists for it.
        let one = try NablaProcess.run(["mask", Self.model + ":blocks.1.step10", "--threshold", "0.6", "--json"])
        #expect(one.status == 0, "\(one.stderr)")
        let pair = (json?["pairs"] as? [[String: Any]])?[2]
        #expect(firstJSONNumber(named: "density", in: one.stdout) == pair?["density"] as? Double)
    }

    @Test func aDumpWithoutAPrefixNamesItsPairs() throws {
        let r = try NablaProcess.run(["mask", Self.model, "--threshold", "0.6"])
        MaskCommandTests.expectError(r, contains: "holds 4 Q/K pairs; choose one as \(Self.model):PREFIX")
    }
}
