import Foundation
import NablaCore
import Testing

/// `nabla diff` end to end: its Jaccard is the one computed here from the two masks
/// `nabla mask` writes for the same settings.
@Suite("nabla diff")
struct DiffCommandTests {
    static let dir = Fixtures.path("golden", "nabla-plus-sta")

    /// `nabla mask` for `settings`, as `[heads * N * N]` bytes.
    static func mask(_ settings: [String], out: String) throws -> [Int64] {
        let r = try NablaProcess.run(["mask", "\(dir)/q.npy", "\(dir)/k.npy", "--out", out] + settings)
        #expect(r.status == 0, "\(r.stderr)")
        return try NPY.read(path: "\(out)/mask.npy").int64s()
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("Jaccard and densities equal those computed here from nabla mask's masks; a mask file compares as its spec")
    func jaccard() throws {
        let tmp = try Fixtures.temporaryDirectory("diff")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let a = try Self.mask(["--threshold", "0.5"], out: tmp + "/a")
        let b = try Self.mask(["--threshold", "0.8", "--sta", "3x1x1"], out: tmp + "/b")
        let inter = zip(a, b).filter { $0 == 1 && $1 == 1 }.count
        let union = zip(a, b).filter { $0 == 1 || $1 == 1 }.count
        let want = Double(inter) / Double(union)
        #expect(want > 0.2 && want < 0.95)

        let r = try NablaProcess.run(["diff", "thr=0.5", "thr=0.8,sta=3x1x1", "\(Self.dir)/q.npy", "\(Self.dir)/k.npy", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try Self.object(r.stdout)
        let jaccard = try #require(json["jaccard"] as? Double)
        #expect(abs(jaccard - want) < 1e-12)
        let sideA = try #require(json["a"] as? [String: Any]), sideB = try #require(json["b"] as? [String: Any])
        #expect(abs(try #require(sideA["density"] as? Double) - Double(a.filter { $0 == 1 }.count) / Double(a.count)) < 1e-12)
        #expect(abs(try #require(sideB["density"] as? Double) - Double(b.filter { $0 == 1 }.count) / Double(b.count)) < 1e-12)

        // The same comparison with B read from the file nabla mask wrote.
        let f = try NablaProcess.run(["diff", "thr=0.5", "\(tmp)/b/mask.npy", "\(Self.dir)/q.npy", "\(Self.dir)/k.npy", "--json"])
        #expect(f.status == 0, "\(f.stderr)")
        #expect(abs(try #require(try Self.object(f.stdout)["jaccard"] as? Double) - want) < 1e-12)
    }

    @Test("--recall --error: each mask's recall and error, per head and overall, are nabla attend's for the same mask")
    func quality() throws {
        let r = try NablaProcess.run(["diff", "thr=0.5", "thr=0.8,sta=3x1x1", "\(Self.dir)/q.npy", "\(Self.dir)/k.npy", "\(Self.dir)/v.npy",
                                      "--recall", "--error", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try Self.object(r.stdout)
        let heads = try #require(json["heads"] as? [[String: Any]])
        for (side, settings) in [("a", ["--threshold", "0.5"]), ("b", ["--threshold", "0.8", "--sta", "3x1x1"])] {
            let a = try NablaProcess.run(["attend", "\(Self.dir)/q.npy", "\(Self.dir)/k.npy", "\(Self.dir)/v.npy", "--dense", "--recall", "--json"] + settings)
            let attend = try Self.object(a.stdout)
            let sideJSON = try #require(json[side] as? [String: Any])
            #expect(abs((sideJSON["recall"] as? Double ?? -1) - (attend["recall"] as? Double ?? -2)) < 1e-12, "\(side)")
            #expect(abs((sideJSON["relative_l2_error"] as? Double ?? -1) - (attend["relative_l2_error"] as? Double ?? -2)) < 1e-12, "\(side)")
            let attendHeads = try #require(attend["heads"] as? [[String: Any]])
            for h in 0..<2 {
                #expect(abs((heads[h]["recall_" + side] as? Double ?? -1) - (attendHeads[h]["recall"] as? Double ?? -2)) < 1e-12)
                #expect(abs((heads[h]["relative_l2_error_" + side] as? Double ?? -1)
                            - (attendHeads[h]["relative_l2_error"] as? Double ?? -2)) < 1e-12)
            }
        }
    }

    @Test("the table, recall and error; bad specs and misfit files fail with one line")
    func table() throws {
        let r = try NablaProcess.run(["diff", "thr=0.9", "sta=3x1x1", "\(Self.dir)/q.npy", "\(Self.dir)/k.npy", "\(Self.dir)/v.npy",
                                      "--recall", "--error"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Jaccard") && r.stdout.contains("recall A") && r.stdout.contains("error B"))
        #expect(r.stdout.contains(" all "))

        let bad = try NablaProcess.run(["diff", "thr=2", "sta=3x1x1"])
        #expect(bad.status != 0 && bad.stderr.hasPrefix("error: ") && bad.stderr.contains("thr=2"))
        let misfit = try NablaProcess.run(["diff", "thr=0.5", "block=1x4x4,file=\(Self.dir)/expected/mask.npy",
                                           "\(Self.dir)/q.npy", "\(Self.dir)/k.npy"])
        #expect(misfit.status != 0 && misfit.stderr.contains("does not fit"))
        #expect(misfit.stderr.split(separator: "\n").count == 1)
        let noV = try NablaProcess.run(["diff", "thr=0.5", "sta=3x1x1", "\(Self.dir)/q.npy", "\(Self.dir)/k.npy", "--error"])
        #expect(noV.status != 0 && noV.stderr.contains("no V"))
    }
}
