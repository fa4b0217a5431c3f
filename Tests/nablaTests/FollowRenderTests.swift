import Foundation
import NablaCore
import Testing

/// The follow view's row figures against `nabla mask`'s files for the same settings.
@Suite("Follow view against nabla mask")
struct FollowRenderTests {
    static let dir = Fixtures.path("golden", "nabla-plus-sta")

    @Test("the row's kept count is nabla mask's kv_num_blocks and its mass the pooled probability of mask.npy's row, for rows reached by keys",
          arguments: ["f", "fJJ<Right>", "fJJJJJ<Down>"])
    func row(keys: String) throws {
        let tmp = try Fixtures.temporaryDirectory("follow")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let settings = ["--threshold", "0.5", "--sta", "3x1x1"]
        let m = try NablaProcess.run(["mask", "\(Self.dir)/q.npy", "\(Self.dir)/k.npy", "--out", tmp] + settings)
        #expect(m.status == 0, "\(m.stderr)")
        let r = try NablaProcess.run(["render", "\(Self.dir)/q.npy", "\(Self.dir)/k.npy", "--head", "1", "--size", "120x40", "--keys", keys] + settings,
                                     environment: ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"])
        #expect(r.status == 0, "\(r.stderr)")
        func number(after prefix: String) throws -> String {
            let at = try #require(r.stdout.range(of: prefix), "\(prefix) in \(r.stdout)")
            return String(r.stdout[at.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        let q = try #require(Int(try number(after: "query block #")))
        let line = try #require(r.stdout.split(separator: "\n").first { $0.contains(" of 24 · mass ") && $0.contains("kept ") })
        let words = line.split(separator: " ")
        let at = try #require(words.firstIndex(of: "kept"))
        let shownKept = try #require(Int(words[at + 1]))
        let shownMass = String(try #require(words.last))

        let n = 24, counts = try NPY.read(path: "\(tmp)/kv_num_blocks.npy").int64s()
        #expect(shownKept == Int(counts[1 * n + q]), "row \(q)")
        // The pooled map's row, written here: block means of Q and K (6x16x16 tokens, 1x8x8 blocks), softmax of the scaled dots.
        let qs = try NPY.read(path: "\(Self.dir)/q.npy").floats(), ks = try NPY.read(path: "\(Self.dir)/k.npy").floats()
        let d = 64, s = 6 * 16 * 16
        func pooled(_ x: [Float], _ b: Int) -> [Double] {
            let t = b / 4, i = (b % 4) / 2, j = b % 2
            var out = [Double](repeating: 0, count: d)
            for y in (i * 8)..<(i * 8 + 8) { for xx in (j * 8)..<(j * 8 + 8) {
                let tok = (t * 16 + y) * 16 + xx
                for c in 0..<d { out[c] += Double(x[(1 * s + tok) * d + c]) / 64 }
            } }
            return out
        }
        let qa = pooled(qs, q)
        let logits = (0..<n).map { b in zip(qa, pooled(ks, b)).reduce(0.0) { $0 + $1.0 * $1.1 } / 8 }
        let top = logits.max()!, e = logits.map { exp($0 - top) }, z = e.reduce(0, +)
        let mask = try NPY.read(path: "\(tmp)/mask.npy").int64s()
        let mass = (0..<n).filter { mask[(1 * n + q) * n + $0] != 0 }.reduce(0.0) { $0 + e[$1] / z }
        #expect(shownMass == fixed(mass, 4), "row \(q): \(shownMass) vs \(mass)")
    }
}
