import Foundation
import NablaCore
import Testing

/// `nabla sweep` end to end, against `nabla mask` and `nabla attend` run here.
@Suite("nabla sweep")
struct SweepCommandTests {
    static let dir = Fixtures.path("golden", "nabla-plus-sta")
    static var qkv: [String] { ["\(dir)/q.npy", "\(dir)/k.npy", "\(dir)/v.npy"] }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("density never falls as thr rises; at three thresholds it is nabla mask's; measured points come from kernel runs")
    func sweep() throws {
        let r = try NablaProcess.run(["sweep"] + Self.qkv + ["--sta", "3x1x1", "--measure", "0.3,0.6,0.9", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try Self.object(r.stdout)
        let points = try #require(json["points"] as? [[String: Any]])
        #expect(points.count == 21)
        let densities = points.map { $0["density"] as? Double ?? -1 }
        let thresholds = points.map { $0["threshold"] as? Double ?? -1 }
        #expect(zip(densities, densities.dropFirst()).allSatisfy { $0 <= $1 }, "\(densities)")
        #expect(densities.last == 1)
        for (i, p) in points.enumerated() {
            #expect(abs((p["predicted_speedup"] as? Double ?? 0) - 1 / densities[i]) < 1e-12)
        }
        for t in [0.25, 0.5, 0.85] {
            let i = try #require(thresholds.firstIndex { abs($0 - t) < 1e-9 })
            let m = try NablaProcess.run(["mask", "\(Self.dir)/q.npy", "\(Self.dir)/k.npy", "--sta", "3x1x1",
                                          "--threshold", String(t), "--json"])
            let mask = try Self.object(m.stdout)
            #expect(densities[i] == mask["density"] as? Double, "thr \(t)")
            let heads = try #require(mask["heads"] as? [[String: Any]])
            let sweepHeads = try #require(points[i]["heads"] as? [[String: Any]])
            for h in 0..<2 {
                #expect(sweepHeads[h]["density"] as? Double == heads[h]["density"] as? Double)
                #expect(sweepHeads[h]["mass_kept"] as? Double == heads[h]["mass_kept"] as? Double)
            }
        }
        // The measured points ran the kernels: their error is nabla attend's for the same mask,
        // and the speed-up is the ratio of the reported medians.
        let measured = try #require(json["measured"] as? [[String: Any]])
        #expect(measured.count == 3)
        for m in measured {
            let t = try #require(m["threshold"] as? Double)
            let timing = try #require(m["timing_ms"] as? [String: Double])
            let sparse = try #require(timing["sparse"]), dense = try #require(timing["dense"])
            #expect(sparse > 0 && dense > 0)
            let speedUp = try #require(m["measured_speedup"] as? Double)
            #expect(abs(speedUp - dense / sparse) <= 0.01 * speedUp)
            let a = try NablaProcess.run(["attend"] + Self.qkv + ["--sta", "3x1x1", "--threshold", String(t), "--dense", "--json"])
            let attend = try Self.object(a.stdout)
            // The fastest run of each kernel is no slower than the median run.
            let median = try #require(attend["timing_ms"] as? [String: Double])
            let fastest = try #require(attend["fastest_ms"] as? [String: Double])
            let cpu = try #require(attend["cpu_ms"] as? [String: Double])
            #expect(Set(fastest.keys) == ["sparse", "dense"] && Set(cpu.keys) == ["sparse", "dense"])
            for (name, ms) in fastest { #expect(ms > 0 && ms <= median[name]!, "\(name)") }
            // CPU time of the process over its threads: some, and at most every core busy throughout.
            let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
            for (name, ms) in cpu { #expect(ms > 0 && ms <= cores * median[name]! * 1.05 + 5, "\(name): \(ms) ms of CPU") }
            let want = try #require(attend["relative_l2_error"] as? Double)
            let got = try #require(m["relative_l2_error"] as? Double)
            #expect(abs(got - want) <= 1e-5 * want, "thr \(t): \(got) vs \(want)")
            #expect(abs((m["density"] as? Double ?? -1) - (attend["density"] as? Double ?? -2)) < 1e-12)
        }
    }

    @Test("the table; recall and error columns; Q/K without V sweeps without timings; bad ranges fail in one line")
    func table() throws {
        let r = try NablaProcess.run(["sweep"] + Self.qkv + ["--thresholds", "0.2,0.9", "--recall", "--error", "--measure", "none"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("recall") && r.stdout.contains("rel. L2 error") && !r.stdout.contains("measured"))
        let noV = try NablaProcess.run(["sweep", "\(Self.dir)/q.npy", "\(Self.dir)/k.npy", "--thresholds", "0:1:0.5"])
        #expect(noV.status == 0 && noV.stdout.contains("1.00") && !noV.stdout.contains("measured"))
        let bad = try NablaProcess.run(["sweep", "--thresholds", "0:2:0.1"])
        #expect(bad.status != 0 && bad.stderr.contains("thresholds '0:2:0.1'") && bad.stderr.split(separator: "\n").count == 1)
    }
}
