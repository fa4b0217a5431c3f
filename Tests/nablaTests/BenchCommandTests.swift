import Foundation
import Testing
import NablaCore

/// `nabla bench` prints figures and ratios; it is never a test of speed.
@Suite("nabla bench command")
struct BenchCommandTests {
    @Test("reports every stage, the re-cut ratio and the map rate")
    func report() throws {
        let dir = Fixtures.path("golden", "tiny-raster")
        let r = try NablaProcess.run(["bench", dir + "/q.npy", dir + "/k.npy", "--threshold", "0.8", "--repeat", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let stages = try #require(obj["stages_ms"] as? [String: [String: NSNumber]])
        #expect(Set(stages.keys) == ["pool", "map", "cut", "sta", "stats", "block_mask", "total"])
        #expect(stages.values.allSatisfy { $0["median"] != nil && $0["min"] != nil })
        #expect((obj["runs"] as? Int) == 2)
        #expect(obj["speedup_recut"] is NSNumber && obj["map_gflops"] is NSNumber)
        #expect((obj["recut_threshold"] as? NSNumber)?.doubleValue == 0.55)

        let text = try NablaProcess.run(["bench", dir + "/q.npy", dir + "/k.npy", "--repeat", "1"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("faster than the full computation"))
        #expect(text.stdout.contains("thr 0.90, STA off"))
    }

    @Test("with V: sparse and dense attention rows, GFLOP/s, share of peak, and time against density")
    func attentionRows() throws {
        let dir = Fixtures.path("golden", "nabla-plus-sta")
        let r = try NablaProcess.run(["bench", dir + "/q.npy", dir + "/k.npy", dir + "/v.npy", "--threshold", "0.5",
                                      "--sta", "3x1x1", "--repeat", "1", "--attention-heads", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let attention = try #require(obj["attention"] as? [String: Any])
        #expect((attention["heads"] as? [Int]) == [0, 1])
        // The golden case's density with these settings.
        #expect(abs(try #require(attention["density"] as? Double) - 0.3090277777777778) < 1e-12)
        let peak = try #require(attention["peak_gflops"] as? Double)
        #expect(peak > 0)
        // The kernel level in use (NABLA_CPU unset: the best this CPU runs), whose peak it is.
        #expect(attention["kernels"] as? String == KernelVariant.best.name)
        for stage in ["sparse", "dense"] {
            let s = try #require(attention[stage] as? [String: Double])
            let (ms, gflops, share) = (try #require(s["median"]), try #require(s["gflops"]), try #require(s["share_of_peak"]))
            #expect(ms > 0 && gflops > 0)
            #expect(abs(share - gflops / peak) < 1e-2 * max(share, 0.01))
            // The fastest of the runs (one here) is at least the median's share.
            #expect(try #require(s["share_of_peak_fastest"]) >= share - 1e-3)
        }
        let sweep = try #require(attention["sweep"] as? [[String: Double]])
        let densities = sweep.compactMap { $0["density"] }
        #expect(densities.count == 6 && densities == densities.sorted() && densities.last == 1)
        #expect(densities.first! < 0.1)

        let text = try NablaProcess.run(["bench", dir + "/q.npy", dir + "/k.npy", dir + "/v.npy", "--threshold", "0.5", "--repeat", "1"],
                                        environment: ["NABLA_CPU": "baseline"])
        #expect(text.stdout.contains("float32, baseline kernels,") && text.stdout.contains("with the baseline kernels"))
        #expect(text.status == 0)
        #expect(text.stdout.contains("of peak") && text.stdout.contains("sparse/dense time against density"))
    }
}
