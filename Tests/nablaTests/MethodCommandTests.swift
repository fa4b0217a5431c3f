import Foundation
import NablaCore
import Testing

/// `nabla mask --method`, `nabla sweep --method` and `nabla plot --view methods` end to end.
@Suite("nabla methods")
struct MethodCommandTests {
    static let dir = Fixtures.path("golden", "nabla-plus-sta")
    static var qk: [String] { ["\(dir)/q.npy", "\(dir)/k.npy"] }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("mask --method vsa writes the five files of nabla mask, every row keeping ceil(keep N) blocks")
    func maskVSA() throws {
        let out = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try NablaProcess.run(["mask"] + Self.qk + ["--method", "vsa", "--keep", "0.2", "--out", out, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try Self.object(r.stdout)
        #expect(json["method"] as? String == "vsa")
        #expect((json["parameters"] as? [String: String])?["keep"] == "0.2")
        let n = 24, k = 5  // ceil(0.2 * 24)
        #expect(abs((json["density"] as? Double ?? 0) - Double(k) / Double(n)) < 1e-12)
        for name in ["mask.npy", "kv_num_blocks.npy", "kv_indices.npy", "frame_coverage.npy", "summary.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name)")
        }
        let counts = try NPY.read(path: out + "/kv_num_blocks.npy").int64s()
        #expect(counts.count == 2 * n && counts.allSatisfy { $0 == Int64(k) })
        let mask = try NPY.read(path: out + "/mask.npy").int64s()
        #expect(mask.reduce(0, +) == Int64(2 * n * k))
    }

    @Test("mask --method nabla is nabla mask; xattention and radial write their masks; sta alone is the window")
    func maskSame() throws {
        let a = try NablaProcess.run(["mask"] + Self.qk + ["--threshold", "0.5", "--sta", "3x1x1", "--json"])
        let b = try NablaProcess.run(["mask"] + Self.qk + ["--method", "nabla", "--threshold", "0.5", "--sta", "3x1x1", "--json"])
        #expect(a.status == 0 && b.status == 0)
        let ja = try Self.object(a.stdout), jb = try Self.object(b.stdout)
        #expect(ja["density"] as? Double == jb["density"] as? Double)
        #expect(jb["method"] == nil)
        for args in [["--method", "xattention", "--threshold", "0.8", "--stride", "4"], ["--method", "radial"],
                     ["--method", "sta", "--sta", "3x1x1"], ["--method", "svg", "--width", "1"], ["--method", "oracle", "--keep", "0.1"]] {
            let r = try NablaProcess.run(["mask"] + Self.qk + args + ["--json"])
            #expect(r.status == 0, "\(args): \(r.stderr)")
            let d = try Self.object(r.stdout)["density"] as? Double ?? 0
            #expect(d > 0 && d <= 1, "\(args)")
        }
        // STA alone on the 6x2x2 block grid with a 3x1x1 window: (6 + 2 * 5) / 36 of the frame pairs, times 1/4.
        let s = try Self.object(try NablaProcess.run(["mask"] + Self.qk + ["--method", "sta", "--sta", "3x1x1", "--json"]).stdout)
        #expect(abs((s["density"] as? Double ?? 0) - 16.0 / 36 / 4) < 1e-12)
    }

    @Test("bad methods and parameters: one line naming the method and the range, exit 64",
          arguments: [(["--method", "flash"], "known methods: nabla, sta, vsa (topk), xattention (xattn), radial, svg, oracle"),
                      (["--method", "vsa", "--keep", "2"], "method vsa: --keep 2 is outside its range; give a number in [0, 1]"),
                      (["--method", "vsa"], "method vsa needs --keep"),
                      (["--method", "radial", "--keep", "0.1"], "method radial takes no --keep"),
                      (["--method", "xattention", "--stride", "5"], "--stride 5 does not divide the 64 tokens"),
                      (["--keep", "0.1", "--threshold", "0.9"], "give --method too")])
    func bad(args: [String], message: String) throws {
        let r = try NablaProcess.run(["mask"] + Self.qk + args)
        #expect(r.status == 64, "\(args): \(r.stderr)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }

    @Test("sweep --method: rows per method with parameter, density and recall; the oracle at the same keep never below vsa")
    func sweep() throws {
        let r = try NablaProcess.run(["sweep"] + Self.qk + ["--block", "1x4x4", "--method", "nabla,vsa,oracle,radial", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let methods = try #require(try Self.object(r.stdout)["methods"] as? [[String: Any]])
        #expect(methods.map { $0["name"] as? String ?? "" } == ["nabla", "vsa", "oracle", "radial"])
        var recall: [String: [Double]] = [:]
        for m in methods {
            let rows = try #require(m["rows"] as? [[String: Any]])
            #expect(rows.count >= 5)
            let d = rows.map { $0["density"] as? Double ?? -1 }
            if m["name"] as? String != "radial" { #expect(zip(d, d.dropFirst()).allSatisfy { $0 <= $1 }, "\(d)") }
            #expect(rows.allSatisfy { $0["parameter"] is Double && $0["recall"] is Double && $0["mass_kept"] is Double })
            recall[m["name"] as? String ?? ""] = rows.map { $0["recall"] as? Double ?? -1 }
        }
        for (v, o) in zip(recall["vsa"]!, recall["oracle"]!) { #expect(o >= v - 1e-12) }
        let text = try NablaProcess.run(["sweep"] + Self.qk + ["--method", "sta,svg"])
        #expect(text.status == 0 && text.stdout.contains("recall with every head at the density") && text.stdout.contains("svg"))
        let bad = try NablaProcess.run(["sweep"] + Self.qk + ["--method", "vsa", "--thresholds", "0.5"])
        #expect(bad.status == 64 && bad.stderr.contains("--thresholds goes with the threshold sweep"))
        let unknown = try NablaProcess.run(["sweep"] + Self.qk + ["--method", "vsa,nope"])
        #expect(unknown.status == 64 && unknown.stderr.contains("known methods"))
    }

    @Test("plot --view methods draws one labelled curve per method")
    func plot() throws {
        let out = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try NablaProcess.run(["plot"] + Self.qk + ["--view", "methods", "--out", out + "/m.svg"])
        #expect(r.status == 0, "\(r.stderr)")
        let svg = try String(contentsOfFile: out + "/m.svg", encoding: .utf8)
        for name in ["nabla", "sta (static)", "vsa", "xattention", "radial (static)", "svg", "oracle", "recall of the true attention"] {
            #expect(svg.contains(">\(name)<"), "\(name)")
        }
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 7)
    }
}
