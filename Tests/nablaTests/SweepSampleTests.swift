import Foundation
import NablaCore
import Testing

/// `nabla sweep --recall --sample` and `--method --sample`: recall estimated from one
/// sample of query blocks, against the exact sweep run here.
@Suite("nabla sweep --sample")
struct SweepSampleTests {
    static let dir = Fixtures.path("golden", "nabla-plus-sta")
    /// 1x4x4 blocks on the 6x16x16 case: 96 query blocks per head.
    static var args: [String] { ["\(dir)/q.npy", "\(dir)/k.npy", "--block", "1x4x4"] }

    static func points(_ args: [String]) throws -> (json: [String: Any], points: [[String: Any]], stderr: String) {
        let r = try NablaProcess.run(["sweep"] + args + ["--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        return (json, try #require(json["points"] as? [[String: Any]]), r.stderr)
    }

    @Test("every threshold's recall estimated from one sample: intervals around the exact sweep's recall")
    func estimates() throws {
        let thresholds = ["--thresholds", "0.3,0.6,0.9"]
        let exact = try Self.points(Self.args + thresholds + ["--recall"])
        let sampled = try Self.points(Self.args + thresholds + ["--recall", "--sample", "24"])
        #expect(sampled.json["sampled_blocks"] as? Int == 24 && sampled.json["total_blocks"] as? Int == 96)
        #expect(exact.json["sampled_blocks"] == nil && exact.points[0]["recall_ci95"] == nil)
        var covered = 0, intervals = 0
        for (e, s) in zip(exact.points, sampled.points) {
            // Density and mass come from the cut, not the sample.
            #expect(e["density"] as? Double == s["density"] as? Double)
            let pairs = [(e, s)] + zip(try #require(e["heads"] as? [[String: Any]]), try #require(s["heads"] as? [[String: Any]])).map { ($0, $1) }
            for (x, y) in pairs {
                let ci = try #require(y["recall_ci95"] as? [Double])
                let value = try #require(y["recall"] as? Double), truth = try #require(x["recall"] as? Double)
                #expect(ci[0] <= value && value <= ci[1] && ci[1] - ci[0] > 0 && ci[1] - ci[0] < 0.3)
                intervals += 1
                if ci[0] <= truth && truth <= ci[1] { covered += 1 }
            }
            // A sample, not the whole: the estimate differs from the exact value.
            #expect(s["recall"] as? Double != e["recall"] as? Double)
        }
        #expect(covered >= intervals - 1, "\(covered) of \(intervals) intervals cover the exact recall")
    }

    @Test("--sample as large as the blocks: the exact sweep, said once")
    func wholeSample() throws {
        let exact = try Self.points(Self.args + ["--recall", "--thresholds", "0.5,0.8"])
        let whole = try Self.points(Self.args + ["--recall", "--thresholds", "0.5,0.8", "--sample", "500"])
        #expect(whole.stderr.components(separatedBy: "covers all 96 query blocks").count == 2, "\(whole.stderr)")
        #expect(whole.json["sampled_blocks"] == nil && whole.points[0]["recall_ci95"] == nil)
        for (e, w) in zip(exact.points, whole.points) {
            #expect(abs((e["recall"] as? Double ?? -1) - (w["recall"] as? Double ?? 1)) < 1e-12)
        }
    }

    @Test("--method with --sample: every method's rows carry intervals around the exact recall")
    func methods() throws {
        func rows(_ extra: [String]) throws -> [[String: Any]] {
            let r = try NablaProcess.run(["sweep"] + Self.args + ["--method", "nabla,vsa", "--json"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            return try #require(json["methods"] as? [[String: Any]]).flatMap { try #require($0["rows"] as? [[String: Any]]) }
        }
        let exact = try rows([]), sampled = try rows(["--sample", "32", "--sample-seed", "7"])
        #expect(exact.count == sampled.count && exact.count > 10)
        var covered = 0
        for (e, s) in zip(exact, sampled) {
            let ci = try #require(s["recall_ci95"] as? [Double]), truth = try #require(e["recall"] as? Double)
            if ci[0] <= truth && truth <= ci[1] { covered += 1 }
        }
        #expect(covered >= exact.count - 1, "\(covered) of \(exact.count)")
    }

    @Test("--sample without --recall, a sample under 2 and --sample-seed alone are refused, exit 64")
    func refusals() throws {
        for (extra, says) in [(["--sample", "20"], "--recall"), (["--recall", "--sample", "1"], "at least 2"),
                              (["--recall", "--sample-seed", "3"], "--sample-seed goes with --sample")] {
            let r = try NablaProcess.run(["sweep"] + Self.args + extra)
            #expect(r.status == 64 && r.stderr.contains(says), "\(extra): \(r.stderr)")
        }
    }

    @Test("--sample on joint text tokens is refused in one line naming the input and the way out, exit 64")
    func textRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nabla-sweep-text-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // 2 heads, 20 text tokens then a 3x8x8 grid, D 16: written as float32 .npy here.
        _ = try MaskCommandTests.writeQK(dir.path, shape: [2, 20 + 3 * 8 * 8, 16])
        let r = try NablaProcess.run(["sweep", dir.path + "/q.npy", dir.path + "/k.npy", "--grid", "3x8x8", "--text-tokens", "20",
                                      "--block", "1x4x4", "--recall", "--sample", "8", "--thresholds", "0.5"])
        #expect(r.status == 64)
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(lines.count == 1 && lines[0].contains("q.npy") && lines[0].contains("drop --sample"), "\(r.stderr)")
    }
}
