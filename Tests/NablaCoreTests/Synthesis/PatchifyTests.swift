import Testing
@testable import NablaCore

@Suite("patchify")
struct PatchifyTests {
    func latent(c: Int, t: Int, h: Int, w: Int) -> VideoLatent {
        VideoLatent(name: "test", channels: c, frames: t, height: h, width: w,
                    values: (0..<(c * t * h * w)).map { Float($0) })
    }

    @Test("matches a naive loop, shapes included",
          arguments: [PatchShape(pt: 1, ph: 2, pw: 2), PatchShape(pt: 2, ph: 2, pw: 2), PatchShape(pt: 1, ph: 1, pw: 1),
                      PatchShape(pt: 1, ph: 3, pw: 2), PatchShape(pt: 4, ph: 1, pw: 3)])
    func naive(patch: PatchShape) throws {
        let (c, t, h, w) = (3, 4, 6, 6)
        let x = latent(c: c, t: t, h: h, w: w)
        let tokens = try x.patchify(patch)
        let grid = TokenGrid(t: t / patch.pt, h: h / patch.ph, w: w / patch.pw)
        #expect(tokens.grid == grid)
        #expect(tokens.features == c * patch.volume)
        #expect(tokens.values.count == grid.tokens * tokens.features)
        // Naive: for each token (raster) and each (c, dt, dy, dx), the voxel it covers.
        var expected: [Float] = []
        for tt in 0..<grid.t { for yy in 0..<grid.h { for xx in 0..<grid.w {
            for cc in 0..<c { for dt in 0..<patch.pt { for dy in 0..<patch.ph { for dx in 0..<patch.pw {
                expected.append(x.value(c: cc, t: tt * patch.pt + dt, y: yy * patch.ph + dy, x: xx * patch.pw + dx))
            } } } }
        } } }
        #expect(tokens.values == expected)
    }

    @Test("a patch that does not divide the latent names both")
    func notDividing() {
        let x = latent(c: 2, t: 3, h: 6, w: 7)
        do {
            _ = try x.patchify(.standard)
            Issue.record("expected an error")
        } catch let e as NablaError {
            #expect(e.code == .badGrid)
            #expect(e.message.contains("patch 1x2x2"))
            #expect(e.message.contains("3x6x7"))
            #expect(e.message.contains("W = 7 is not a multiple of 2"))
        } catch { Issue.record("unexpected \(error)") }
    }
}
