import Foundation
import NablaCore
import Testing

/// Every file in Samples/ opens, as `nabla info` says it will, and is exactly what
/// `nabla sample` makes (so the committed files stay reproducible).
@Suite("Samples/")
struct SamplesTests {
    static let files = (try? SamplesDirectory.tensorFiles()) ?? []

    @Test("holds the files nabla sample makes, each under 8 MB")
    func inventory() throws {
        #expect(Self.files == SampleFiles.entries.map(\.name).sorted())
        for name in Self.files {
            let size = try FileManager.default.attributesOfItem(atPath: SamplesDirectory.path + "/" + name)[.size] as? Int
            #expect((size ?? .max) < 8 << 20, "\(name) is \(size ?? -1) bytes")
        }
    }

    @Test("nabla info opens it, nabla mask computes its masks", arguments: files)
    func opens(name: String) throws {
        let path = SamplesDirectory.path + "/" + name
        let info = try NablaProcess.run(["info", path, "--json"])
        #expect(info.status == 0, "\(info.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])
        let kind = try #require(obj["kind"] as? String)
        #expect(obj["problem"] is NSNull, "\(name): \(obj["problem"] ?? "")")
        let grid = try #require(obj["grid"] as? [Int])
        let mask: [String]
        switch kind {
        case "latent": mask = ["mask", "--latent", path]
        case "qk": mask = ["mask", path + ":q", path + ":k"]
        case "model":
            let pairs = try #require(obj["pairs"] as? [String])
            mask = ["mask", path + ":" + pairs[0]]
        default:
            Issue.record("\(name) reads as \(kind)")
            return
        }
        let result = try NablaProcess.run(mask + ["--threshold", "0.9", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(summary["grid"] as? [Int] == grid)
        #expect(try headDensities(result.stdout).count == obj["heads"] as? Int)
    }

    @Test("nabla sample regenerates it byte for byte")
    func reproducible() throws {
        let out = try Fixtures.temporaryDirectory("samples")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try NablaProcess.run(["sample", "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        for name in SampleFiles.entries.map(\.name) {
            let made = try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
            let committed = try Data(contentsOf: URL(fileURLWithPath: SamplesDirectory.path + "/" + name))
            #expect(made == committed, "\(name) differs from Samples/\(name); regenerate with: nabla sample --out Samples")
        }
    }

    @Test("the whole-model dump: every pair computed, noisier steps denser")
    func modelDump() throws {
        let path = SamplesDirectory.path + "/model.safetensors"
        let result = try NablaProcess.run(["mask", path, "--all", "--threshold", "0.9", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let pairs = try #require(obj["pairs"] as? [[String: Any]])
        let prefixes = SampleFiles.modelLayers.indices.flatMap { l in SampleFiles.modelSteps.map { "blocks.\(l).\($0.name)" } }
        #expect(pairs.map { $0["prefix"] as? String } == prefixes)
        // Per layer, the noisy step (sigma 0.7) keeps more blocks than the late one (0.1).
        for l in SampleFiles.modelLayers.indices {
            let early = pairs[2 * l]["density"] as? Double ?? 0, late = pairs[2 * l + 1]["density"] as? Double ?? 1
            #expect(early > late, "layer \(l): \(early) vs \(late)")
        }
    }

    @Test("--all prints its table and no progress when stderr is not a terminal")
    func modelDumpQuietOnPipes() throws {
        let path = SamplesDirectory.path + "/model.safetensors"
        let result = try NablaProcess.run(["mask", path, "--all", "--threshold", "0.9"])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("blocks.2.step40"))
    }
}
