import Foundation
import NablaCore
import Testing

@Suite("nabla info")
struct InfoCommandTests {
    @Test("describes a Q/K file and a latent, as text and JSON")
    func files() throws {
        let dir = try Fixtures.temporaryDirectory("info")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let latent = dir + "/latent.npy"
        try NPY.write([Float](repeating: 0.5, count: 16 * 2 * 16 * 16), shape: [1, 16, 2, 16, 16], to: latent)
        let text = try NablaProcess.run(["info", latent])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("latent [B, C, T, H, W]"))
        #expect(text.stdout.contains("token grid 2x8x8"))
        let json = try NablaProcess.run(["info", latent, "--json", "--patch", "1x1x1"])
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(obj["kind"] as? String == "latent")
        #expect(obj["grid"] as? [Int] == [2, 16, 16])
        #expect(obj["n"] as? Int == 8)
    }

    @Test("a file that is no tensor file fails with one line")
    func junk() throws {
        let dir = try Fixtures.temporaryDirectory("info")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let junk = dir + "/notes.txt"
        try Data("hello".utf8).write(to: URL(fileURLWithPath: junk))
        let result = try NablaProcess.run(["info", junk])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: \(junk): "))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test("without a file, describes the built-in sample and its heads")
    func sample() throws {
        let result = try NablaProcess.run(["info", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(obj["kind"] as? String == "sample")
        #expect(obj["grid"] as? [Int] == [16, 32, 48])
        #expect((obj["recipes"] as? [Any])?.count == 8)
    }
}
