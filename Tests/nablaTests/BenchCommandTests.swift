import Foundation
import Testing

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
}
