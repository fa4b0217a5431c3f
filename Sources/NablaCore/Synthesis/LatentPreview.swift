extension VideoPreview {
    /// Grey levels for a latent on the token grid its patch makes: the first principal
    /// component of the channels at every voxel, mean-pooled over each patch, scaled so
    /// the darkest token is 0 and the brightest 1.
    ///
    /// The component is the top eigenvector of the channels' covariance (estimated on at
    /// most about 16k voxels, power iteration), oriented so that it correlates positively
    /// with the mean of the channels (eigenvectors have no sign of their own).
    /// - Throws: `NablaError.badGrid` when `patch` does not divide the latent.
    /// - Complexity: O(C * T * H * W + C^2 * 16k).
    public static func principalComponent(of latent: VideoLatent, patch: PatchShape) throws -> VideoPreview {
        let c = latent.channels, n = latent.voxels
        let direction = latent.values.withUnsafeBufferPointer { v -> [Double] in
            let step = max(1, n / 16384)
            var mean = [Double](repeating: 0, count: c)
            var samples = 0
            for i in stride(from: 0, to: n, by: step) {
                samples += 1
                for a in 0..<c { mean[a] += Double(v[a * n + i]) }
            }
            for a in 0..<c { mean[a] /= Double(samples) }
            var cov = [Double](repeating: 0, count: c * c)
            var x = [Double](repeating: 0, count: c)
            for i in stride(from: 0, to: n, by: step) {
                for a in 0..<c { x[a] = Double(v[a * n + i]) - mean[a] }
                for a in 0..<c { for b in 0...a { cov[a * c + b] += x[a] * x[b] } }
            }
            for a in 0..<c { for b in 0..<a { cov[b * c + a] = cov[a * c + b] } }
            return topEigenvector(cov, size: c)
        }
        var component = [Float](repeating: 0, count: n)
        latent.values.withUnsafeBufferPointer { v in
            component.withUnsafeMutableBufferPointer { out in
                for a in 0..<c {
                    let w = Float(direction[a])
                    let p = v.baseAddress! + a * n
                    for i in 0..<n { out[i] += w * p[i] }
                }
            }
        }
        return try pooled(component, frames: latent.frames, height: latent.height, width: latent.width, patch: patch,
                          latentName: latent.name)
    }

    /// Values on the `[T, H, W]` voxels of a latent (C order), mean-pooled over each
    /// `patch` onto the token grid and scaled so the smallest token is 0 and the largest
    /// 1 (all 0.5 when they are equal).
    /// - Throws: `NablaError.badGrid` when `patch` does not divide `T x H x W`.
    /// `rgb` (`[T, H, W, 3]` in `[0, 1]`, optional) is mean-pooled the same way, unscaled.
    public static func pooled(_ voxels: [Float], frames: Int, height: Int, width: Int, patch: PatchShape,
                              latentName: String = "latent", rgb: [Float]? = nil) throws -> VideoPreview {
        precondition(voxels.count == frames * height * width, "one value per voxel is needed")
        let shape = VideoLatent(name: latentName, channels: 1, frames: frames, height: height, width: width, values: voxels)
        let grid = try shape.tokenGrid(patch: patch)
        var sums = [Double](repeating: 0, count: grid.tokens)
        for t in 0..<frames {
            for y in 0..<height {
                let row = ((t / patch.pt) * grid.h + y / patch.ph) * grid.w
                for x in 0..<width {
                    sums[row + x / patch.pw] += Double(voxels[(t * height + y) * width + x])
                }
            }
        }
        let lo = sums.min() ?? 0, hi = sums.max() ?? 0
        let luminance = sums.map { hi > lo ? Float(($0 - lo) / (hi - lo)) : 0.5 }
        var colours: [Float]?
        if let rgb {
            precondition(rgb.count == frames * height * width * 3, "three values per voxel are needed")
            var c = [Double](repeating: 0, count: grid.tokens * 3)
            for t in 0..<frames { for y in 0..<height {
                let row = ((t / patch.pt) * grid.h + y / patch.ph) * grid.w
                for x in 0..<width { for k in 0..<3 { c[(row + x / patch.pw) * 3 + k] += Double(rgb[((t * height + y) * width + x) * 3 + k]) } }
            } }
            let per = Double(patch.pt * patch.ph * patch.pw)
            colours = c.map { Float(min(max($0 / per, 0), 1)) }
        }
        return VideoPreview(grid: grid, luminance: luminance, rgb: colours)
    }

    /// The unit eigenvector of the largest eigenvalue of a symmetric positive
    /// semi-definite `size x size` matrix, by power iteration, with a non-negative sum.
    static func topEigenvector(_ m: [Double], size c: Int) -> [Double] {
        var v = (0..<c).map { 1 + 0.01 * Double($0) }
        for _ in 0..<200 {
            var next = [Double](repeating: 0, count: c)
            for a in 0..<c { for b in 0..<c { next[a] += m[a * c + b] * v[b] } }
            let norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 1e-300 else { break }
            v = next.map { $0 / norm }
        }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        v = v.map { $0 / norm }
        return v.reduce(0, +) < 0 ? v.map { -$0 } : v
    }
}
