import Foundation
import NablaCore
import Testing

/// Attention with joint text tokens at the command line (issue 18, item 2): `nabla attend`
/// runs the text rows and columns densely, writes outputs with the text rows where Q holds
/// them (checked against a dense softmax over the whole sequence written here), reports
/// recall over every token, samples exactly when the sample covers every block, and takes
/// the joint mask `nabla mask` writes; `diff`, `sweep` and `bench` run on text; `plot` and
/// `sweep --method` still refuse it in one line with exit 64.
@Suite("joint text tokens, attend")
struct JointAttendCommandTests {
    static let grid = TokenGrid(t: 2, h: 12, w: 16)
    static let heads = 2, d = 8

    /// `[heads, Nt + S, D]` float32 Q, K, V as .npy in `dir`; the values.
    static func files(_ dir: String, text nt: Int) throws -> [String: [Float]] {
        let s = nt + grid.tokens
        var out: [String: [Float]] = [:]
        for (name, seed) in [("q", 1.0), ("k", 2.0), ("v", 3.0)] {
            var values = [Float](repeating: 0, count: heads * s * d)
            for i in values.indices {
                let a: Double = sin(Double(i % 7919) * 0.37 + seed)
                let b: Double = 0.5 * cos(Double((i / d) % s) * 0.11 + seed)
                values[i] = Float(a + b)
            }
            try Data(try NPY.encode(values, shape: [heads, s, d], name: name)).write(to: URL(fileURLWithPath: "\(dir)/\(name).npy"))
            out[name] = values
        }
        return out
    }

    /// Dense attention of the whole sequence, `[heads, S, D]` in sequence order, in Double.
    static func dense(_ x: [String: [Float]], tokens s: Int) -> [Double] {
        let q = x["q"]!, k = x["k"]!, v = x["v"]!
        var out = [Double](repeating: 0, count: heads * s * d)
        for h in 0..<heads {
            for i in 0..<s {
                var logits = [Double](repeating: 0, count: s)
                for j in 0..<s {
                    var dot = 0.0
                    for x in 0..<d { dot += Double(q[(h * s + i) * d + x]) * Double(k[(h * s + j) * d + x]) }
                    logits[j] = dot / Double(d).squareRoot()
                }
                let m = logits.max()!
                let e = logits.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                for j in 0..<s {
                    for x in 0..<d { out[(h * s + i) * d + x] += e[j] / z * Double(v[(h * s + j) * d + x]) }
                }
            }
        }
        return out
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("attend --text-tokens --recall --dense --json runs; out_dense.npy is dense attention over the whole sequence, text where Q holds it",
          arguments: ["20", "20@end"])
    func attend(text: String) throws {
        let dir = try Fixtures.temporaryDirectory("jointattend")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let nt = 20, s = nt + Self.grid.tokens
        let values = try Self.files(dir, text: nt)
        let inputs = ["\(dir)/q.npy", "\(dir)/k.npy", "\(dir)/v.npy", "--grid", "2x12x16", "--text-tokens", text]
        let r = try NablaProcess.run(["attend"] + inputs + ["--thr", "0.8", "--recall", "--dense", "--json", "--out", dir + "/o"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try Self.json(r.stdout)
        // Video 2x12x16 with 1x8x8: 2x2x2 = 8 blocks; text: 1 block of 20 tokens.
        #expect(j["text_tokens"] as? Int == nt && j["joint_blocks"] as? Int == 9 && j["tokens"] as? Int == s)
        let recall = try #require(j["recall"] as? Double), oracle = try #require(j["oracle_recall"] as? Double)
        #expect(recall > 0.3 && recall < 1 && oracle >= recall - 1e-12)
        #expect((j["relative_l2_error"] as? Double).map { $0 > 0 } == true)
        let dense = try NPY.read(path: dir + "/o/out_dense.npy"), sparse = try NPY.read(path: dir + "/o/out.npy")
        #expect(dense.shape == [Self.heads, s, Self.d] && sparse.shape == dense.shape)
        let want = Self.dense(values, tokens: s), got = dense.floats()
        let worst = zip(got, want).map { abs(Double($0) - $1) }.max()!
        #expect(worst < 1e-4, "out_dense.npy differs from dense attention by \(worst)")
        // Text rows keep every key: their sparse rows are the dense ones.
        let textRows = text.hasSuffix("@end") ? Array((s - nt)..<s) : Array(0..<nt)
        let sp = sparse.floats()
        for h in 0..<Self.heads {
            for i in textRows {
                for x in 0..<Self.d {
                    let at = (h * s + i) * Self.d + x
                    #expect(abs(Double(sp[at]) - want[at]) < 1e-4)
                }
            }
        }
        // --sample covering every block is the exact figure.
        let sampled = try NablaProcess.run(["attend"] + inputs + ["--thr", "0.8", "--recall", "--sample", "50", "--json"])
        #expect(sampled.status == 0 && sampled.stderr.contains("covers all 9 query blocks"), "\(sampled.stderr)")
        let sj = try Self.json(sampled.stdout)
        #expect(abs((sj["recall"] as? Double ?? -1) - recall) < 1e-9)
        // The joint mask nabla mask writes is taken as --mask, with the same figures.
        let m = try NablaProcess.run(["mask"] + inputs + ["--thr", "0.8", "--out", dir + "/m"])
        #expect(m.status == 0, "\(m.stderr)")
        let given = try NablaProcess.run(["attend"] + inputs + ["--mask", dir + "/m/mask.npy", "--recall", "--json"])
        #expect(given.status == 0, "\(given.stderr)")
        #expect(abs((try Self.json(given.stdout)["recall"] as? Double ?? -1) - recall) < 1e-12)
    }

    @Test("diff, sweep and bench run on text; plot and sweep --method refuse it in one line, exit 64")
    func otherCommands() throws {
        let dir = try Fixtures.temporaryDirectory("jointattend")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.files(dir, text: 20)
        let inputs = ["\(dir)/q.npy", "\(dir)/k.npy", "\(dir)/v.npy", "--grid", "2x12x16", "--text-tokens", "20"]
        let attend = try NablaProcess.run(["attend"] + inputs + ["--thr", "0.8", "--recall", "--json"])
        let recall = try #require(try Self.json(attend.stdout)["recall"] as? Double)
        let diff = try NablaProcess.run(["diff", "thr=0.8", "thr=0.5"] + inputs + ["--recall", "--error", "--json"])
        #expect(diff.status == 0 && diff.stderr.contains("text 20@start"), "\(diff.stderr)")
        let a = try #require(try Self.json(diff.stdout)["a"] as? [String: Any])
        #expect(abs((a["recall"] as? Double ?? -1) - recall) < 1e-9, "\(diff.stdout)")
        let sweep = try NablaProcess.run(["sweep"] + inputs + ["--thresholds", "0.8", "--measure", "none", "--recall", "--json"])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        let points = try #require(try Self.json(sweep.stdout)["points"] as? [[String: Any]])
        #expect(abs((points.first?["recall"] as? Double ?? -1) - recall) < 1e-9, "\(sweep.stdout)")
        let bench = try NablaProcess.run(["bench"] + inputs + ["--thr", "0.8", "--repeat", "1", "--json"])
        #expect(bench.status == 0, "\(bench.stderr)")
        let attention = try #require(try Self.json(bench.stdout)["attention"] as? [String: Any], "\(bench.stdout)")
        #expect(attention["joint_blocks"] as? Int == 9)
        // Every text row and column kept: at least 1 - (8/9)^2 of the joint blocks.
        #expect((attention["density"] as? Double ?? 0) >= 1 - 64.0 / 81 - 1e-12)
        for args in [["plot"] + inputs + ["--thr", "0.8", "--out", dir + "/p.svg"],
                     ["sweep"] + inputs + ["--method", "nabla"]] {
            let r = try NablaProcess.run(args)
            #expect(r.status == 64, "\(args[0]): \(r.stderr)")
            #expect(r.stderr.contains("does not handle joint text tokens yet"), "\(args[0]): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args[0]): \(r.stderr)")
        }
    }
}
