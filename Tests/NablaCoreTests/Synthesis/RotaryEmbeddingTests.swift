import Foundation
import Testing
@testable import NablaCore

@Suite("3-D rotary position embedding")
struct RotaryEmbeddingTests {
    @Test("splits D across time, rows and columns as Kandinsky 5 does for 64",
          arguments: [(64, 8, 12, 12), (128, 16, 24, 24), (96, 12, 18, 18), (6, 1, 1, 1), (10, 1, 2, 2), (34, 4, 7, 6)])
    func split(d: Int, t: Int, y: Int, x: Int) throws {
        let rope = try RotaryEmbedding3D(headDim: d)
        #expect((rope.pairsT, rope.pairsY, rope.pairsX) == (t, y, x))
        #expect(2 * (rope.pairsT + rope.pairsY + rope.pairsX) == d)
    }

    @Test("refuses odd and too small head dimensions", arguments: [0, 2, 4, 5, 63])
    func badHeadDim(d: Int) {
        #expect(throws: NablaError.self) { try RotaryEmbedding3D(headDim: d) }
        do { _ = try RotaryEmbedding3D(headDim: d) } catch let e as NablaError {
            #expect(e.code == .badArgument)
            #expect(e.message.contains("head dim \(d) (given by the caller)"))
        } catch { Issue.record("unexpected \(error)") }
    }

    /// The rotation written out for the test: pair j of section a rotates by
    /// position_a * 10000^(-i/n_a).
    func naive(_ v: [Float], t: Int, y: Int, x: Int, sections: [Int]) -> [Double] {
        var out = v.map(Double.init)
        var j = 0
        for (a, n) in sections.enumerated() {
            let p = Double([t, y, x][a])
            for i in 0..<n {
                let angle = p * pow(10000, -Double(i) / Double(n))
                let (e, o) = (Double(v[2 * j]), Double(v[2 * j + 1]))
                out[2 * j] = e * cos(angle) - o * sin(angle)
                out[2 * j + 1] = e * sin(angle) + o * cos(angle)
                j += 1
            }
        }
        return out
    }

    @Test("matches the formula, keeps norms")
    func formulaAndNorm() throws {
        var rng = SeededRandom(seed: 3)
        for d in [6, 64, 128] {
            let rope = try RotaryEmbedding3D(headDim: d)
            for _ in 0..<10 {
                let v = (0..<d).map { _ in rng.normal() }
                let (t, y, x) = (Int.random(in: 0..<20, using: &rng), Int.random(in: 0..<50, using: &rng), Int.random(in: 0..<70, using: &rng))
                let r = rope.rotated(v, t: t, y: y, x: x)
                let expected = naive(v, t: t, y: y, x: x, sections: [rope.pairsT, rope.pairsY, rope.pairsX])
                for j in 0..<d { #expect(abs(Double(r[j]) - expected[j]) < 1e-4) }
                let n0 = v.reduce(0) { $0 + Double($1 * $1) }, n1 = r.reduce(0) { $0 + Double($1 * $1) }
                #expect(abs(n1 - n0) <= 1e-5 * n0)
            }
        }
    }

    @Test("q.k depends only on the offset of the two positions")
    func relative() throws {
        let rope = try RotaryEmbedding3D(headDim: 64)
        var rng = SeededRandom(seed: 11)
        let q = (0..<64).map { _ in rng.normal() }, k = (0..<64).map { _ in rng.normal() }
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        func norm(_ a: [Float]) -> Double { dot(a, a).squareRoot() }
        for _ in 0..<10 {
            let (dt, dy, dx) = (Int.random(in: -3...3, using: &rng), Int.random(in: -5...5, using: &rng), Int.random(in: -5...5, using: &rng))
            let base = dot(rope.rotated(q, t: 4 + dt, y: 6 + dy, x: 6 + dx), rope.rotated(k, t: 4, y: 6, x: 6))
            for _ in 0..<4 {
                let (t, y, x) = (Int.random(in: 3...12, using: &rng), Int.random(in: 5...30, using: &rng), Int.random(in: 5...30, using: &rng))
                let moved = dot(rope.rotated(q, t: t + dt, y: y + dy, x: x + dx), rope.rotated(k, t: t, y: y, x: x))
                // Rotating in float32 rounds each component a few times (cos, sin, product, sum),
                // each within eps/2 relative: the dot moves by at most about 4 eps |q| |k|
                // (about 3e-5 here; measured below 1e-6).
                #expect(abs(moved - base) <= 4 * Double(Float.ulpOfOne) * norm(q) * norm(k), "moved \(moved) base \(base)")
            }
        }
    }
}
