/// The input nabla opens when given none.
///
/// PLACEHOLDER until the synthesis work lands: a deterministic structured Q/K on a
/// 16x32x48 grid with 8 heads of dimension 64. The real sample derives Q/K from a
/// procedural video latent.
public enum BuiltinSample {
    public static func load() throws -> QKInput {
        let grid = TokenGrid(t: 16, h: 32, w: 48)
        let heads = 8, d = 64, s = grid.tokens
        var q = [Float](repeating: 0, count: heads * s * d)
        var k = q
        var state: UInt64 = 0x1234_5678
        func noise() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000 - 1000) / 1000
        }
        for h in 0..<heads {
            let sharp = Float(1 + h)
            for t in 0..<grid.t { for y in 0..<grid.h { for x in 0..<grid.w {
                let tok = (t * grid.h + y) * grid.w + x
                for j in 0..<d {
                    let pos: Float = j % 3 == 0 ? Float(t) * 0.3 : (j % 3 == 1 ? Float(y) * 0.1 : Float(x) * 0.1)
                    let f = Float(j / 3 + 1) * 0.15
                    let v = sharp * sin(pos * f + Float(h))
                    q[(h * s + tok) * d + j] = v + 0.3 * noise()
                    k[(h * s + tok) * d + j] = v + 0.3 * noise()
                }
            } } }
        }
        return QKInput(name: "sample", q: HeadTokens(q, heads: heads, tokens: s, headDim: d),
                       k: HeadTokens(k, heads: heads, tokens: s, headDim: d), grid: grid, order: .raster)
    }
}

import Foundation
