import Foundation
import NablaCore
import Testing

/// Whole models across machines (issue 19, item 5): `mask --all --shard I/N` computes a
/// deterministic share of the pairs and `nabla merge` combines the shards into what one
/// run writes.
@Suite("mask --all --shard and nabla merge")
struct ShardMergeTests {
    static let dump = SamplesDirectory.path + "/model.safetensors"

    /// Every file under `directory` by relative path, with `timing_ms` objects removed
    /// (the only part of the outputs that differs from run to run).
    static func files(_ directory: String) throws -> [String: String] {
        var out: [String: String] = [:]
        let e = try #require(FileManager.default.enumerator(atPath: directory))
        while let relative = e.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = directory + "/" + relative
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            var text = relative.hasSuffix(".json") ? String(decoding: bytes, as: UTF8.self) : bytes.base64EncodedString()
            text = text.replacingOccurrences(of: #""timing_ms": \{[^}]*\}"#, with: "\"timing_ms\": {}", options: .regularExpression)
            out[relative] = text
        }
        return out
    }

    @Test("N shards merged equal one run, byte for byte apart from timings; each pair in exactly one shard", arguments: [1, 3, 7])
    func mergedEqualsOneRun(count: Int) throws {
        let root = try Fixtures.temporaryDirectory("shards")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let settings = ["--threshold", "0.8", "--sta", "3x1x1"]
        let whole = try NablaProcess.run(["mask", Self.dump, "--all"] + settings + ["--out", root + "/whole"])
        #expect(whole.status == 0, "\(whole.stderr)")
        var shardDirs: [String] = []
        var seen: [String] = []
        for i in 1...count {
            let dir = root + "/part\(i)"
            let r = try NablaProcess.run(["mask", Self.dump, "--all"] + settings + ["--shard", "\(i)/\(count)", "--out", dir])
            #expect(r.status == 0, "\(r.stderr)")
            let model = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/model.json"))) as? [String: Any])
            let shard = try #require(model["shard"] as? [String: Any])
            #expect(shard["index"] as? Int == i && shard["count"] as? Int == count)
            seen += ((model["pairs"] as? [[String: Any]]) ?? []).compactMap { $0["prefix"] as? String }
            shardDirs.append(dir)
        }
        let all = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/whole/model.json"))) as? [String: Any])
        let prefixes = ((all["pairs"] as? [[String: Any]]) ?? []).compactMap { $0["prefix"] as? String }
        #expect(seen.sorted() == prefixes.sorted(), "every pair in exactly one shard")
        // Merged in any order of the arguments.
        let merged = try NablaProcess.run(["merge"] + shardDirs.reversed() + ["--out", root + "/merged"])
        #expect(merged.status == 0, "\(merged.stderr)")
        let a = try Self.files(root + "/whole"), b = try Self.files(root + "/merged")
        #expect(a.keys.sorted() == b.keys.sorted())
        for (name, text) in a { #expect(b[name] == text, "\(name) differs") }
        // model.json itself is byte-identical (it holds no timings).
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/whole/model.json")) == Data(contentsOf: URL(fileURLWithPath: root + "/merged/model.json")))
    }

    @Test("the share rule: deterministic, a partition, and balanced within the largest pair")
    func assignment() {
        var state: UInt64 = 7
        for trial in 0..<50 {
            let count = 1 + trial % 9
            let weights = (0..<(trial % 23)).map { _ -> Int in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return 1 + Int(state >> 50)
            }
            let shard = ShardSpec.assign(weights: weights, count: count)
            #expect(shard == ShardSpec.assign(weights: weights, count: count))
            #expect(shard.allSatisfy { (0..<count).contains($0) })
            var load = [Int](repeating: 0, count: count)
            for (i, s) in shard.enumerated() { load[s] += weights[i] }
            if let biggest = weights.max() { #expect(load.max()! - load.min()! <= biggest, "\(weights) \(load)") }
        }
    }

    @Test("bad shard specs are refused naming the form, --shard without --all too",
          arguments: ["0/4", "5/4", "a/b", "1/0", "2", "-1/3", "1/2/3"])
    func badSpecs(spec: String) throws {
        let r = try NablaProcess.run(["mask", Self.dump, "--all", "--threshold", "0.8", "--shard", spec])
        #expect(r.status == 64 && r.stderr.contains("I/N") && r.stderr.split(separator: "\n").count == 1, "\(spec): \(r.stderr)")
        let single = try NablaProcess.run(["mask", "--threshold", "0.8", "--shard", "1/2"])
        #expect(single.status == 64 && single.stderr.contains("--shard goes with --all"), "\(single.stderr)")
    }

    @Test("merging shards of different runs, a shard twice, a missing shard or a whole run is refused naming what; the --out stays absent")
    func badMerges() throws {
        let root = try Fixtures.temporaryDirectory("shards-bad")
        defer { try? FileManager.default.removeItem(atPath: root) }
        func shard(_ i: Int, _ n: Int, _ extra: [String] = [], name: String? = nil) throws -> String {
            let dir = root + "/" + (name ?? "s\(i)of\(n)")
            let r = try NablaProcess.run(["mask", Self.dump, "--all", "--threshold", "0.8", "--shard", "\(i)/\(n)", "--out", dir] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            return dir
        }
        let s1 = try shard(1, 2), s2 = try shard(2, 2)
        let otherThr = try shard(2, 2, ["--threshold", "0.7"], name: "thr")
        let otherBlock = try shard(2, 2, ["--block", "1x4x4"], name: "block")
        let otherCount = try shard(2, 3, name: "count")
        let out = root + "/out"
        for (args, words) in [([s1, otherThr], "threshold 0.7 differs"), ([s1, otherBlock], "block 1x4x4 differs"),
                              ([s1, otherCount], "shard count 3 differs"), ([s1, s1], "both shard 1/2"), ([s1], "shard 2/2 missing")] {
            let r = try NablaProcess.run(["merge"] + args + ["--out", out])
            #expect(r.status == 64 && r.stderr.contains(words) && r.stderr.split(separator: "\n").count == 1, "\(words): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        let whole = root + "/whole"
        _ = try NablaProcess.run(["mask", Self.dump, "--all", "--threshold", "0.8", "--out", whole])
        let r = try NablaProcess.run(["merge", s1, whole, "--out", out])
        #expect(r.status == 64 && r.stderr.contains("no shard field"), "\(r.stderr)")
        #expect(try NablaProcess.run(["merge", s1, s2, "--out", out]).status == 0)
    }

    @Test("--recall --sample: shards merged equal one run (the estimates, their intervals and the sample recorded); an exact shard or another seed is refused naming recall_sample")
    func sampledRecallMerges() throws {
        let root = try Fixtures.temporaryDirectory("shards-sampled")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let args = ["--threshold", "0.8", "--recall", "--sample", "8", "--sample-seed", "5"]
        let whole = try NablaProcess.run(["mask", Self.dump, "--all"] + args + ["--out", root + "/whole", "--json"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let model = try #require(try JSONSerialization.jsonObject(with: Data(whole.stdout.utf8)) as? [String: Any])
        let sample = try #require(model["recall_sample"] as? [String: Any])
        #expect(sample["blocks"] as? Int == 8 && sample["seed"] as? Int == 5)
        let pairs = try #require(model["pairs"] as? [[String: Any]])
        for p in pairs {
            let n = try #require(p["n"] as? Int)
            #expect(n > 8 && p["sampled_blocks"] as? Int == 8, "\(p["prefix"] ?? "")")
            for head in try #require(p["heads"] as? [[String: Any]]) {
                let r = try #require(head["recall"] as? Double)
                let ci = try #require(head["recall_ci95"] as? [Double])
                #expect(ci.count == 2 && ci[0] <= r && r <= ci[1] && ci[0] < ci[1])
            }
        }
        // The text says the recall table is an estimate.
        let text = try NablaProcess.run(["mask", Self.dump, "--all"] + args)
        #expect(text.stdout.contains("recall ~") && text.stdout.contains("~ recall estimated from 8 of "), "\(text.stdout)")
        var dirs: [String] = []
        for i in 1...2 {
            let dir = root + "/part\(i)"
            let r = try NablaProcess.run(["mask", Self.dump, "--all"] + args + ["--shard", "\(i)/2", "--out", dir])
            #expect(r.status == 0, "\(r.stderr)")
            dirs.append(dir)
        }
        let merged = try NablaProcess.run(["merge"] + dirs + ["--out", root + "/merged"])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/whole/model.json")) == Data(contentsOf: URL(fileURLWithPath: root + "/merged/model.json")))
        // A shard of an exact run, or of another seed, is another run.
        for (name, extra) in [("exact", ["--threshold", "0.8", "--recall"]), ("seed", ["--threshold", "0.8", "--recall", "--sample", "8"])] {
            let dir = root + "/" + name
            #expect(try NablaProcess.run(["mask", Self.dump, "--all"] + extra + ["--shard", "2/2", "--out", dir]).status == 0)
            let r = try NablaProcess.run(["merge", dirs[0], dir, "--out", root + "/bad"])
            #expect(r.status == 64 && r.stderr.contains("recall_sample") && r.stderr.split(separator: "\n").count == 1, "\(name): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: root + "/bad"))
        }
    }

    @Test("--sample goes with --recall, --sample-seed with --sample; --sample 1 is refused; a sample that takes every block is said once")
    func sampleOptions() throws {
        for (args, words) in [(["--recall", "--sample", "1"], "at least 2"), (["--sample", "8"], "give --recall"),
                              (["--recall", "--sample-seed", "3"], "goes with --sample")] {
            let r = try NablaProcess.run(["mask", Self.dump, "--all", "--threshold", "0.8"] + args)
            #expect(r.status == 64 && r.stderr.contains(words), "\(args): \(r.stderr)")
        }
        let r = try NablaProcess.run(["mask", Self.dump, "--all", "--threshold", "0.8", "--recall", "--sample", "1000", "--json"])
        #expect(r.status == 0)
        let notes = r.stderr.split(separator: "\n").filter { $0.contains("covers every query block") }
        #expect(notes.count == 1, "\(r.stderr)")
        let model = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let pairs = try #require(model["pairs"] as? [[String: Any]])
        #expect(pairs.allSatisfy { $0["sampled_blocks"] == nil && (($0["heads"] as? [[String: Any]]) ?? []).allSatisfy { $0["recall_ci95"] == nil } })
        // Exact under the sample: the same figures as --recall alone.
        let exact = try NablaProcess.run(["mask", Self.dump, "--all", "--threshold", "0.8", "--recall", "--json"])
        let e = try #require(try JSONSerialization.jsonObject(with: Data(exact.stdout.utf8)) as? [String: Any])
        let want = ((e["pairs"] as? [[String: Any]]) ?? []).flatMap { (($0["heads"] as? [[String: Any]]) ?? []).compactMap { $0["recall"] as? Double } }
        let got = pairs.flatMap { (($0["heads"] as? [[String: Any]]) ?? []).compactMap { $0["recall"] as? Double } }
        #expect(want.count == got.count && zip(want, got).allSatisfy { abs($0 - $1) < 1e-12 })
    }
}
