/// The input of a video DiT's patch embedding: one feature vector per token.
///
/// Layout: `values` is `[S, features]`, tokens in raster order over `grid`
/// (`s = (t * H + y) * W + x` on the token grid), each token's features ordered
/// `(c, dt, dy, dx)` over its patch, the order in which a `Conv3d` patch embedding
/// flattens its kernel.
public struct PatchTokens: Sendable, Equatable {
    public let grid: TokenGrid
    /// `C * pt * ph * pw`.
    public let features: Int
    /// `[S, features]`.
    public let values: [Float]
}

extension VideoLatent {
    /// The token grid `T/pt x H/ph x W/pw` that `patch` makes of this latent.
    /// - Throws: `NablaError.badGrid` naming the patch, the latent and the dimension
    ///   that `patch` does not divide.
    public func tokenGrid(patch: PatchShape) throws -> TokenGrid {
        try patch.tokenGrid(frames: frames, height: height, width: width, name: name)
    }

    /// Cuts the latent into `patch`-sized tokens (see `PatchTokens` for the layout).
    /// - Throws: `NablaError.badGrid` when `patch` does not divide the latent.
    /// - Complexity: O(C * T * H * W).
    public func patchify(_ patch: PatchShape) throws -> PatchTokens {
        let grid = try tokenGrid(patch: patch)
        let f = channels * patch.volume
        var out = [Float](repeating: 0, count: grid.tokens * f)
        let (pt, ph, pw) = (patch.pt, patch.ph, patch.pw)
        let (h, w) = (height, width)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for t in 0..<grid.t {
                    for y in 0..<grid.h {
                        for x in 0..<grid.w {
                            var o = ((t * grid.h + y) * grid.w + x) * f
                            for c in 0..<channels {
                                for dt in 0..<pt {
                                    for dy in 0..<ph {
                                        let row = ((c * frames + t * pt + dt) * h + y * ph + dy) * w + x * pw
                                        for dx in 0..<pw {
                                            dst[o] = src[row + dx]
                                            o += 1
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return PatchTokens(grid: grid, features: f, values: out)
    }
}
