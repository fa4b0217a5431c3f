@testable import NablaCore

/// Test inputs draw from the engine's own seeded generator (SplitMix64).
typealias SeededRandom = SeededGenerator

extension SeededGenerator {
    /// Roughly normal, mean 0, standard deviation `scale`.
    mutating func normal(_ scale: Float = 1) -> Float { Float(gaussian()) * scale }
}

/// A random Q/K input in raster order, `[heads, S, D]`, with structure: each token's
/// vector is a smooth function of its position plus noise, so maps are not uniform.
func randomInput(grid: TokenGrid, heads: Int, headDim: Int, seed: UInt64, sharpness: Float = 3) -> QKInput {
    var rng = SeededRandom(seed: seed)
    let s = grid.tokens
    var q = [Float](repeating: 0, count: heads * s * headDim)
    var k = q
    for h in 0..<heads {
        let freq = (0..<headDim).map { _ in Float.random(in: 0.1...1.2, using: &rng) }
        let phase = (0..<headDim).map { _ in Float.random(in: 0...6.28, using: &rng) }
        for t in 0..<grid.t {
            for y in 0..<grid.h {
                for x in 0..<grid.w {
                    let tok = (t * grid.h + y) * grid.w + x
                    for j in 0..<headDim {
                        let pos = j % 3 == 0 ? Float(t) : (j % 3 == 1 ? Float(y) / 4 : Float(x) / 4)
                        let base = sharpness * sin(freq[j] * pos + phase[j])
                        q[(h * s + tok) * headDim + j] = base + rng.normal(0.5)
                        k[(h * s + tok) * headDim + j] = base + rng.normal(0.5)
                    }
                }
            }
        }
    }
    return QKInput(name: "random", q: HeadTokens(q, heads: heads, tokens: s, headDim: headDim),
                   k: HeadTokens(k, heads: heads, tokens: s, headDim: headDim), grid: grid, order: .raster)
}

/// Naive pooled map written for the tests: mean over block tokens, dot, softmax, in Double.
func naiveProbabilities(_ input: QKInput, block: BlockShape) -> [[[Double]]] {
    let g = input.grid
    let tb = g.t / block.bt, hb = g.h / block.bh, wb = g.w / block.bw
    let n = tb * hb * wb, d = input.headDim
    func pooled(_ x: HeadTokens, _ h: Int) -> [[Double]] {
        var out = [[Double]](repeating: [Double](repeating: 0, count: d), count: n)
        for t in 0..<g.t { for y in 0..<g.h { for xx in 0..<g.w {
            let b = ((t / block.bt) * hb + y / block.bh) * wb + xx / block.bw
            let r = x.row(h, (t * g.h + y) * g.w + xx)
            for j in 0..<d { out[b][j] += Double(r[j]) }
        } } }
        return out.map { $0.map { $0 / Double(block.tokens) } }
    }
    return (0..<input.heads).map { h in
        let qa = pooled(input.q, h), ka = pooled(input.k, h)
        return (0..<n).map { a in
            let logits = (0..<n).map { b in zip(qa[a], ka[b]).reduce(0) { $0 + $1.0 * $1.1 } / Double(d).squareRoot() }
            let m = logits.max()!
            let e = logits.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            return e.map { $0 / s }
        }
    }
}

/// Naive cut written for the tests: sort ascending (stable), running sum, keep `>= 1 - thr`,
/// always the last.
func naiveCut(_ row: [Double], threshold: Double) -> [Bool] {
    let order = row.indices.sorted { row[$0] < row[$1] || (row[$0] == row[$1] && $0 < $1) }
    var keep = [Bool](repeating: false, count: row.count)
    var c = 0.0
    for (i, b) in order.enumerated() {
        c += row[b]
        if c >= 1 - threshold || i == order.count - 1 { keep[b] = true }
    }
    return keep
}

import Foundation

/// The `NablaError` `body` throws, or `nil` when it throws none or another error.
func nablaError(_ body: () throws -> Void) -> NablaError? {
    do { try body() } catch let e as NablaError { return e } catch { return nil }
    return nil
}
