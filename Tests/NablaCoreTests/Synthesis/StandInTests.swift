import Foundation
import Testing
@testable import NablaCore

@Suite("stand-in attention layer")
struct StandInTests {
    @Test("the same seed reproduces Q/K/V bit for bit; another seed differs")
    func seeds() throws {
        let latent = LatentFixture(c: 4, t: 2, h: 8, w: 8).latent
        let a = try AttentionStandIn.input(from: latent, options: SynthesisOptions(heads: 3, headDim: 16, seed: 1))
        let b = try AttentionStandIn.input(from: latent, options: SynthesisOptions(heads: 3, headDim: 16, seed: 1))
        let c = try AttentionStandIn.input(from: latent, options: SynthesisOptions(heads: 3, headDim: 16, seed: 2))
        #expect(a.q.denseArray() == b.q.denseArray())
        #expect(a.k.denseArray() == b.k.denseArray())
        #expect(a.v?.denseArray() == b.v?.denseArray())
        #expect(a.q.denseArray() != c.q.denseArray())
        #expect(a.k.denseArray() != c.k.denseArray())
        #expect(a.heads == 3 && a.headDim == 16 && a.grid == TokenGrid(t: 2, h: 4, w: 4) && a.order == .raster)
        let preview = try #require(a.preview)
        #expect(preview.grid == a.grid)
        #expect(preview.luminance.allSatisfy { (0...1).contains($0) })
    }

    @Test("with equal content everywhere, q.k depends only on the offset of two tokens")
    func relativePosition() throws {
        // Every 1x2x2 patch holds the same values: the latent varies only inside a patch.
        let (c, t, h, w) = (4, 4, 12, 12)
        var values = [Float](repeating: 0, count: c * t * h * w)
        for cc in 0..<c { for tt in 0..<t { for y in 0..<h { for x in 0..<w {
            values[((cc * t + tt) * h + y) * w + x] = Float(cc + 1) * Float((y % 2) * 2 + x % 2) - 1.5
        } } } }
        let latent = VideoLatent(name: "flat", channels: c, frames: t, height: h, width: w, values: values)
        let input = try AttentionStandIn.input(from: latent, options: SynthesisOptions(heads: 8, headDim: 16, seed: 4))
        let g = input.grid
        func dot(_ h: Int, _ a: (Int, Int, Int), _ b: (Int, Int, Int)) -> Double {
            let qa = input.q.row(h, (a.0 * g.h + a.1) * g.w + a.2), kb = input.k.row(h, (b.0 * g.h + b.1) * g.w + b.2)
            return (0..<input.headDim).reduce(0) { $0 + Double(qa[$1]) * Double(kb[$1]) }
        }
        for head in 0..<8 {
            for offset in [(0, 0, 0), (1, 0, 0), (0, 1, -2), (-2, 3, 1), (3, -1, -4)] {
                let origin = (max(0, -offset.0), max(0, -offset.1), max(0, -offset.2))
                let reference = dot(head, (origin.0 + offset.0, origin.1 + offset.1, origin.2 + offset.2), origin)
                for shift in [(0, 0, 1), (0, 1, 0), (1, 0, 0), (0, 1, 1)] {
                    let k = (origin.0 + shift.0, origin.1 + shift.1, origin.2 + shift.2)
                    let q = (k.0 + offset.0, k.1 + offset.1, k.2 + offset.2)
                    guard q.0 < g.t, q.1 < g.h, q.2 < g.w, k.0 < g.t, k.1 < g.h, k.2 < g.w else { continue }
                    #expect(abs(dot(head, q, k) - reference) <= 1e-3 * max(1, abs(reference)), "head \(head) offset \(offset)")
                }
            }
        }
    }

    @Test("bias directions sit on the RoPE sections their recipe names")
    func biasSections() throws {
        let layer = try AttentionStandIn(features: 8, options: SynthesisOptions(heads: 8, headDim: 64))
        let rope = layer.rope
        for h in 0..<8 {
            let recipe = layer.recipes[h]
            #expect(recipe == HeadRecipe.cycle[h])
            let b = Array(layer.biases[(h * 64)..<((h + 1) * 64)])
            let norm = b.reduce(0) { $0 + Double($1 * $1) }.squareRoot()
            #expect(abs(norm - Double(recipe.strength) * 8) < 1e-3)
            for j in 0..<64 {
                let axis = rope.frequency(pair: j / 2).axis
                switch recipe.bias {
                case .none: #expect(b[j] == 0)
                case .spatial: if axis == 0 { #expect(b[j] == 0) }
                case .temporal: if axis != 0 { #expect(b[j] == 0) }
                case .all: break
                }
            }
        }
    }

    @Test("options out of range are refused")
    func badOptions() {
        let latent = LatentFixture(c: 2, t: 1, h: 2, w: 2).latent
        for options in [SynthesisOptions(heads: 0), SynthesisOptions(headDim: 7), SynthesisOptions(headDim: 4),
                        SynthesisOptions(heads: 100_000)] {
            #expect(throws: NablaError.self) { try AttentionStandIn.input(from: latent, options: options) }
        }
    }
}

@Suite("procedural scene")
struct SceneTests {
    @Test("encodes deterministically to a [16, T, H, W] latent in [-1, 1]")
    func encode() {
        let scene = ProceduralScene(latentFrames: 3, latentHeight: 8, latentWidth: 12)
        let (a, lum) = scene.encode(name: "s")
        let (b, _) = scene.encode(name: "s")
        #expect(a == b)
        #expect([a.channels, a.frames, a.height, a.width] == [Int]([16, 3, 8, 12]))
        #expect(a.values.allSatisfy { (-1...1).contains($0) })
        #expect(lum.count == 3 * 8 * 12 && lum.allSatisfy { $0 >= 0 && $0 <= 1 + 4 * Float.ulpOfOne })
        let other = ProceduralScene(latentFrames: 3, latentHeight: 8, latentWidth: 12, seed: 7).encode().latent
        #expect(other.values != a.values)
    }

    @Test("groups frames as a causal video VAE: the first alone, then fours")
    func frameGroups() {
        let scene = ProceduralScene(latentFrames: 4, latentHeight: 2, latentWidth: 2)
        #expect(scene.frameCount == 13)
        #expect((0..<4).map(scene.frames(ofLatentFrame:)) == [0..<1, 1..<5, 5..<9, 9..<13])
    }

    @Test("the sample's preview has the video's colours: a red ball and a blue car on a frame (issue 20, item 12)")
    func samplePreviewColours() throws {
        let preview = try #require(try BuiltinSample.load().preview)
        let colours = try #require(preview.rgb)
        #expect(colours.count == preview.grid.tokens * 3 && colours.allSatisfy { (0...1).contains($0) })
        var reds = 0, blues = 0
        for tok in 0..<preview.grid.tokens {
            let r = colours[tok * 3], g = colours[tok * 3 + 1], b = colours[tok * 3 + 2]
            if r > g + 0.25 && r > b + 0.25 { reds += 1 }
            if b > r + 0.15 && b > g + 0.05 && b < 0.6 { blues += 1 }
        }
        #expect(reds > 0, "no red token: the ball")
        #expect(blues > 0, "no dark blue token: the car")
    }
}
