import Foundation
import NablaCore
import Testing

/// `nabla attend --recall --sample N|auto` end to end against the exact `--recall` and
/// `--dense` figures of the same command, on the golden case block-1x4x4 (3x16x16 tokens,
/// blocks 1x4x4: 48 query blocks per head, 16 per frame slab, 2 heads).
@Suite("nabla attend --sample")
struct AttendSampleTests {
    static let dir = Fixtures.path("golden/block-1x4x4")
    static var inputs: [String] { ["attend", "\(dir)/q.npy", "\(dir)/k.npy", "\(dir)/v.npy", "--block", "1x4x4", "--threshold", "0.8"] }

    static func heads(_ json: [String: Any]) throws -> [[String: Any]] {
        try #require(json["heads"] as? [[String: Any]])
    }

    @Test("a sample of every block gives the exact figures, said once on stderr")
    func exact() throws {
        let full = try NablaProcess.run(Self.inputs + ["--recall", "--dense", "--json"])
        #expect(full.status == 0, "\(full.stderr)")
        let sampled = try NablaProcess.run(Self.inputs + ["--recall", "--dense", "--sample", "500", "--json"])
        #expect(sampled.status == 0, "\(sampled.stderr)")
        #expect(sampled.stderr == "warning: --sample 500 covers all 48 query blocks of each head: the figures are exact\n")
        let want = try Self.heads(AttendCommandTests.object(full.stdout))
        let got = try Self.heads(AttendCommandTests.object(sampled.stdout))
        #expect(got.count == 2)
        for (w, g) in zip(want, got) {
            let recall = try #require(w["recall"] as? Double), error = try #require(w["relative_l2_error"] as? Double)
            #expect(abs(try #require(g["recall"] as? Double) - recall) < 1e-12)
            #expect(g["recall_ci95"] as? [Double] == [g["recall"] as! Double, g["recall"] as! Double])
            #expect(g["sampled_blocks"] as? Int == 48)
            #expect(abs(try #require(g["relative_l2_error"] as? Double) - error) < 1e-6 * error)
            #expect(abs(try #require(g["oracle_recall"] as? Double) - (w["oracle_recall"] as! Double)) < 1e-12)
            let ci = try #require(g["relative_l2_error_ci95"] as? [Double])
            #expect(ci[0] == ci[1])
        }
    }

    @Test("N blocks: intervals around the estimates, the same blocks for the same seed")
    func sampled() throws {
        let args = Self.inputs + ["--recall", "--dense", "--sample", "12", "--sample-seed", "4", "--json"]
        let a = try NablaProcess.run(args), b = try NablaProcess.run(args)
        #expect(a.status == 0 && a.stderr.isEmpty, "\(a.stderr)")
        let ja = try AttendCommandTests.object(a.stdout), jb = try AttendCommandTests.object(b.stdout)
        #expect(try Self.heads(ja).map { $0["recall"] as? Double } == Self.heads(jb).map { $0["recall"] as? Double })
        for h in try Self.heads(ja) {
            #expect(h["sampled_blocks"] as? Int == 12)
            let r = try #require(h["recall"] as? Double), ci = try #require(h["recall_ci95"] as? [Double])
            #expect(ci.count == 2 && ci[0] <= r && r <= ci[1] && ci[0] < ci[1])
            let e = try #require(h["relative_l2_error"] as? Double), eci = try #require(h["relative_l2_error_ci95"] as? [Double])
            #expect(eci[0] <= e && e <= eci[1])
        }
        let sample = try #require(ja["sample"] as? [String: Any])
        #expect(sample["sampled_blocks"] as? Int == 12 && sample["blocks"] as? Int == 48 && sample["exact"] as? Bool == false)
        // No full dense run: its time is not reported, the estimate's is.
        let timing = try #require(ja["timing_ms"] as? [String: Any])
        #expect(timing["dense"] == nil && timing["recall"] == nil && timing["estimate"] != nil)
        // Another seed, other blocks.
        let c = try NablaProcess.run(Self.inputs + ["--recall", "--sample", "12", "--sample-seed", "5", "--json"])
        #expect(try Self.heads(AttendCommandTests.object(c.stdout)).map { $0["recall"] as? Double }
                != Self.heads(ja).map { $0["recall"] as? Double })
    }

    @Test("auto stops within +-0.005 or at every block")
    func auto() throws {
        let r = try NablaProcess.run(Self.inputs + ["--recall", "--sample", "auto", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        for h in try Self.heads(AttendCommandTests.object(r.stdout)) {
            let ci = try #require(h["recall_ci95"] as? [Double])
            let n = try #require(h["sampled_blocks"] as? Int)
            #expect(n == 48 || (ci[1] - ci[0]) / 2 <= 0.005)
            #expect(n >= 32)
        }
    }

    @Test("bad --sample values: one line, exit 64", arguments: [
        (["--recall", "--sample", "0"], "--sample 0: give a number of query blocks per head, at least 2"),
        (["--recall", "--sample", "1"], "--sample 1: give a number"),
        (["--recall", "--sample", "many"], "--sample many: give a number"),
        (["--recall", "--sample", "-3"], "--sample -3: give a number"),
        (["--sample", "8"], "--sample estimates recall: give --recall with it"),
        (["--recall", "--sample-seed", "2"], "--sample-seed goes with --sample"),
        (["--recall", "--dense", "--sample", "8", "--out", "/tmp/x"], "no out_dense.npy for --out"),
    ])
    func bad(extra: [String], message: String) throws {
        let r = try NablaProcess.run(Self.inputs + extra)
        #expect(r.status == 64)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }

    @Test("the readable summary gives the interval and what it rests on")
    func text() throws {
        let r = try NablaProcess.run(Self.inputs + ["--recall", "--sample", "12"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("recall (sampled)"))
        #expect(r.stdout.contains(" +- "))
        #expect(r.stdout.contains("sampled    12 of 48 query blocks per head (stratified by frame, seed 0); +- is the 95% interval"))
    }

    @Test("--sample runs the full block-sparse attention only for --out: its time and out.npy come with --out alone")
    func sparseOnlyForOut() throws {
        let estimate = try NablaProcess.run(Self.inputs + ["--recall", "--sample", "12", "--json"])
        #expect(estimate.status == 0, "\(estimate.stderr)")
        let timing = try #require(try AttendCommandTests.object(estimate.stdout)["timing_ms"] as? [String: Double])
        #expect(timing["sparse"] == nil && timing["estimate"] != nil, "\(timing)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nabla-sample-out-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let written = try NablaProcess.run(Self.inputs + ["--recall", "--sample", "12", "--json", "--out", dir])
        #expect(written.status == 0, "\(written.stderr)")
        let timed = try #require(try AttendCommandTests.object(written.stdout)["timing_ms"] as? [String: Double])
        #expect(timed["sparse"] != nil)
        #expect(FileManager.default.fileExists(atPath: dir + "/out.npy"))
        // The same sample gives the same estimate either way.
        let a = try Self.heads(AttendCommandTests.object(estimate.stdout)), b = try Self.heads(AttendCommandTests.object(written.stdout))
        #expect(a[0]["recall"] as? Double == b[0]["recall"] as? Double)
    }
}
