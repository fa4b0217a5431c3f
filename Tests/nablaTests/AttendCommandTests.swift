import Foundation
import NablaCore
import Testing

/// `nabla attend` end to end: every golden case with V (Tests/Fixtures/golden) gives the
/// reference's block-sparse and dense outputs, and reports the error those outputs have.
@Suite("nabla attend")
struct AttendCommandTests {
    static let goldenWithV = ["golden/block-1x4x4", "golden/cube-2x4x4", "golden/fractal-order",
                              "golden/nabla-plus-sta", "golden/tiny-raster"]

    /// Relative L2 of `a` against `b`, in Double.
    static func relativeL2(_ a: [Double], _ b: [Double]) -> Double {
        var e = 0.0, r = 0.0
        for (x, y) in zip(a, b) {
            e += (x - y) * (x - y)
            r += y * y
        }
        return (e / r).squareRoot()
    }

    /// `x` (`[heads, S, D]` flattened, tokens in raster order) in block order.
    static func blockOrdered(_ x: [Double], heads: Int, grid: [Int], block: [Int], d: Int) throws -> [Double] {
        let blocks = try BlockGrid(grid: TokenGrid(t: grid[0], h: grid[1], w: grid[2]),
                                   block: BlockShape(bt: block[0], bh: block[1], bw: block[2]))
        let perm = blocks.blockOrderPermutation().map(Int.init)
        let s = perm.count
        var out = [Double]()
        out.reserveCapacity(x.count)
        for h in 0..<heads { for r in perm { out += x[((h * s + r) * d)..<((h * s + r + 1) * d)] } }
        return out
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("golden outputs within relative L2 1e-5, and the reported error is theirs", arguments: goldenWithV)
    func golden(name: String) throws {
        let dir = Fixtures.path(name)
        let spec = try GoldenMaskTests.Case(directory: dir)
        let out = try Fixtures.temporaryDirectory("attend")
        defer { try? FileManager.default.removeItem(atPath: out) }
        var args = ["attend", "\(dir)/q.npy", "\(dir)/k.npy", "\(dir)/v.npy"]
        if spec.order == "block" { args += ["--grid", spec.grid.map(String.init).joined(separator: "x"), "--order", "block"] }
        args += ["--block", spec.block.map(String.init).joined(separator: "x"), "--mask", "\(dir)/expected/mask.npy",
                 "--dense", "--out", out, "--json"]
        let result = try NablaProcess.run(args)
        #expect(result.status == 0, "nabla attend failed: \(result.stderr)")

        let q = try NPY.read(path: "\(dir)/q.npy")
        let sparse = try NPY.read(path: "\(out)/out.npy"), dense = try NPY.read(path: "\(out)/out_dense.npy")
        #expect(sparse.dtype == .float32 && sparse.shape == q.shape)
        #expect(dense.dtype == .float32 && dense.shape == q.shape)
        let d = q.shape.last!
        func inBlockOrder(_ t: RawTensor) throws -> [Double] {
            spec.order == "block" ? t.doubles()
                : try Self.blockOrdered(t.doubles(), heads: spec.heads, grid: spec.grid, block: spec.block, d: d)
        }
        let wantSparse = try NPY.read(path: "\(dir)/expected/out_sparse.npy").doubles()
        let wantDense = try NPY.read(path: "\(dir)/expected/out_dense.npy").doubles()
        let gotSparse = try inBlockOrder(sparse), gotDense = try inBlockOrder(dense)
        #expect(Self.relativeL2(gotSparse, wantSparse) < 1e-5)
        #expect(Self.relativeL2(gotDense, wantDense) < 1e-5)

        let reported = try #require(firstJSONNumber(named: "relative_l2_error", in: result.stdout))
        let expected = Self.relativeL2(wantSparse, wantDense)
        #expect(abs(reported - expected) <= 1e-5 * max(expected, 1e-3), "reported \(reported), from the golden files \(expected)")
        let density = try #require(firstJSONNumber(named: "density", in: result.stdout))
        #expect(density == spec.density)
    }

    @Test("a computed mask gives the same output as that mask given with --mask")
    func computedMaskMatchesGiven() throws {
        let dir = Fixtures.path("golden/nabla-plus-sta")
        let a = try Fixtures.temporaryDirectory("attend-a"), b = try Fixtures.temporaryDirectory("attend-b")
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        let inputs = ["attend", "\(dir)/q.npy", "\(dir)/k.npy", "\(dir)/v.npy"]
        let r1 = try NablaProcess.run(inputs + ["--threshold", "0.5", "--sta", "3x1x1", "--out", a])
        let r2 = try NablaProcess.run(inputs + ["--mask", "\(dir)/expected/mask.npy", "--out", b])
        #expect(r1.status == 0 && r2.status == 0, "\(r1.stderr) \(r2.stderr)")
        #expect(try NPY.read(path: "\(a)/out.npy").floats() == NPY.read(path: "\(b)/out.npy").floats())
    }

    @Test("recall without V; outputs without V are refused with one clear line")
    func withoutV() throws {
        let dir = Fixtures.path("golden/thr-zero")
        let spec = try GoldenMaskTests.Case(directory: dir)
        let base = ["attend", "\(dir)/q.npy", "\(dir)/k.npy", "--block", spec.block.map(String.init).joined(separator: "x"),
                    "--threshold", "\(spec.threshold)"]
        let ok = try NablaProcess.run(base + ["--recall", "--json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let object = try Self.object(ok.stdout)
        let recall = try #require(object["recall"] as? Double), oracle = try #require(object["oracle_recall"] as? Double)
        #expect(recall > 0 && recall <= oracle + 1e-12 && oracle <= 1 + 1e-9)

        for extra in [[String](), ["--dense", "--recall"], ["--recall", "--out", "/tmp/never-written"]] {
            let bad = try NablaProcess.run(base + extra)
            #expect(bad.status != 0)
            #expect(bad.stderr.hasPrefix("error: ") && bad.stderr.contains("no V") && bad.stderr.contains("--recall"),
                    "\(bad.stderr)")
            #expect(bad.stderr.split(separator: "\n").count == 1)
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never-written/out.npy"))
    }

    @Test("a mask that does not fit names both shapes")
    func maskShapeMismatch() throws {
        let dir = Fixtures.path("golden/nabla-plus-sta")
        // The 1x4x4 case's mask is for another block grid.
        let other = Fixtures.path("golden/block-1x4x4", "expected", "mask.npy")
        let r = try NablaProcess.run(["attend", "\(dir)/q.npy", "\(dir)/k.npy", "\(dir)/v.npy", "--mask", other])
        #expect(r.status != 0)
        let shape = try NPY.read(path: other).shape.map(String.init).joined(separator: ", ")
        #expect(r.stderr.contains("[\(shape)]") && r.stderr.contains("[2, 24, 24]"), "\(r.stderr)")
    }

    @Test("recall of an all-ones mask is 1")
    func allOnesRecall() throws {
        let dir = Fixtures.path("golden/thr-one")
        let spec = try GoldenMaskTests.Case(directory: dir)
        let r = try NablaProcess.run(["attend", "\(dir)/q.npy", "\(dir)/k.npy", "--block", spec.block.map(String.init).joined(separator: "x"),
                                      "--threshold", "1", "--recall", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try Self.object(r.stdout)
        #expect(abs(try #require(object["recall"] as? Double) - 1) < 1e-6)
        #expect(abs(try #require(object["oracle_recall"] as? Double) - 1) < 1e-6)
    }
}
