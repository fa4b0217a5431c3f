import Foundation
import Testing

/// The heads' densities in a `nabla mask --json` summary.
func headDensities(_ json: String) throws -> [Double] {
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    let heads = try #require(obj["heads"] as? [[String: Any]])
    return try heads.map { try #require(($0["density"] as? NSNumber)?.doubleValue) }
}

@Suite("the built-in sample")
struct BuiltinSampleTests {
    @Test("nabla mask at thr 0.9: at least 4 heads whose densities spread from <= 15% to >= 35%")
    func densitySpread() throws {
        let result = try NablaProcess.run(["mask", "--threshold", "0.9", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(obj["input"] as? String == "sample")
        #expect(obj["grid"] as? [Int] == [16, 32, 48])
        #expect((obj["n"] as? Int ?? 0) >= 300)
        let densities = try headDensities(result.stdout)
        #expect(densities.count >= 4)
        #expect(densities.min()! <= 0.15, "\(densities)")
        #expect(densities.max()! >= 0.35, "\(densities)")
    }

    @Test("--latent and positional inputs together are refused")
    func latentAndPositional() throws {
        let result = try NablaProcess.run(["mask", "--threshold", "0.5", "--latent", "a.npy", "b.npy"])
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("error: --latent a.npy and 1 positional input(s) given"))
    }

    @Test("bad stand-in options name the option")
    func badOptions() throws {
        for (args, needle) in [(["--head-dim", "7"], "--head-dim 7"), (["--heads", "0"], "--heads 0"),
                               (["--patch", "1x3x3"], "patch 1x3x3 does not divide latent sample")] {
            let result = try NablaProcess.run(["mask", "--threshold", "0.5"] + args)
            #expect(result.status != 0)
            #expect(result.stderr.contains(needle), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
    }
}
