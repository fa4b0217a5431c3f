import Foundation

/// A procedural video and a toy video-VAE encoding of it: the scene of the built-in
/// sample.
///
/// The video: a sky with soft clouds and a sun over green, striped, textured hills that
/// pan to the left (the camera moves right), a red ball bouncing from left to right and
/// a dark blue car driving from right to left in front. Every frame is computed from
/// the frame index alone (value noise from a seeded lattice, no state), so any frame can
/// be rendered on its own and the result does not depend on the order of work.
///
/// The encoding mimics a causal video VAE such as Wan's (4x in time, 8x in space, 16
/// channels): `1 + 4 (T - 1)` frames make `T` latent frames (the first frame alone, then
/// groups of 4). Frames are rendered at `renderScale` = 4 pixels per latent voxel (half
/// a real VAE's 8, to stay fast) and each voxel's `4 x 4 x frames` window is reduced to
/// seven features: mean red, green and blue (minus 0.5), luminance contrast (standard
/// deviation), horizontal and vertical luminance gradient, and motion (mean absolute
/// luminance change from the group's first to its last frame), the last four times 4.
/// Sixteen channels are `tanh(M f + c)` with a fixed seeded mixing `M` (`N(0, 1.5^2)`)
/// and offset `c` (`N(0, 0.5^2)`).
public struct ProceduralScene: Sendable, Equatable {
    /// Latent frames `T` (the video has `1 + 4 (T - 1)` frames).
    public var latentFrames: Int
    /// Latent rows `H` (the video has `4 H` rows of pixels).
    public var latentHeight: Int
    /// Latent columns `W` (the video has `4 W` columns of pixels).
    public var latentWidth: Int
    /// Seeds the texture and the channel mixing.
    public var seed: UInt64

    /// Pixels per latent voxel along rows and columns, as rendered.
    public static let renderScale = 4
    /// Video frames per latent frame after the first.
    public static let temporalFactor = 4
    /// Latent channels, as Wan's VAE has.
    public static let channels = 16
    /// Features per latent voxel before the channel mixing.
    static let featureCount = 7

    public init(latentFrames: Int = 16, latentHeight: Int = 64, latentWidth: Int = 96, seed: UInt64 = 2025) {
        precondition(latentFrames > 0 && latentHeight > 0 && latentWidth > 0, "scene dimensions must be positive")
        self.latentFrames = latentFrames
        self.latentHeight = latentHeight
        self.latentWidth = latentWidth
        self.seed = seed
    }

    /// Video frames, `1 + 4 (T - 1)`.
    public var frameCount: Int { 1 + ProceduralScene.temporalFactor * (latentFrames - 1) }
    public var pixelHeight: Int { latentHeight * ProceduralScene.renderScale }
    public var pixelWidth: Int { latentWidth * ProceduralScene.renderScale }

    /// The video frames encoded into latent frame `t`.
    public func frames(ofLatentFrame t: Int) -> Range<Int> {
        t == 0 ? 0..<1 : (ProceduralScene.temporalFactor * (t - 1) + 1)..<(ProceduralScene.temporalFactor * t + 1)
    }

    // MARK: - Encoding

    /// The latent `[16, T, H, W]` (named `name`) and the mean luminance of every latent
    /// voxel's window, `[T, H, W]` in `[0, 1]` (for previews).
    /// - Complexity: O(frames * pixels); latent frames in parallel.
    public func encode(name: String = "sample") -> (latent: VideoLatent, luminance: [Float]) {
        let e = encodeWithColour(name: name)
        return (e.latent, e.luminance)
    }

    /// `encode(name:)` and the mean colour of every latent voxel's window, `[T, H, W, 3]`
    /// RGB in `[0, 1]` (the first three features plus 0.5), for colour previews.
    /// - Complexity: as `encode(name:)`.
    public func encodeWithColour(name: String = "sample") -> (latent: VideoLatent, luminance: [Float], rgb: [Float]) {
        let background = Background(scene: self)
        let (lt, lh, lw) = (latentFrames, latentHeight, latentWidth)
        let plane = lh * lw
        var features = [Float](repeating: 0, count: ProceduralScene.featureCount * lt * plane)
        var luminance = [Float](repeating: 0, count: lt * plane)
        features.withUnsafeMutableBufferPointer { fb in
            luminance.withUnsafeMutableBufferPointer { lb in
                let out = UncheckedSendable((fb.baseAddress!, lb.baseAddress!))
                Parallel.forEach(lt) { t in
                    encodeLatentFrame(t, background: background, features: out.value.0, luminance: out.value.1)
                }
            }
        }
        // Channel mixing: c = tanh(M f + offset).
        var g = SeededGenerator(seed: seed, stream: 10)
        let nf = ProceduralScene.featureCount, nc = ProceduralScene.channels
        let mixing = g.gaussians(nc * nf, scale: 1.5)
        let offset = g.gaussians(nc, scale: 0.5)
        let voxels = lt * plane
        var latent = [Float](repeating: 0, count: nc * voxels)
        latent.withUnsafeMutableBufferPointer { lat in
            features.withUnsafeBufferPointer { f in
                for c in 0..<nc {
                    let dst = lat.baseAddress! + c * voxels
                    for i in 0..<voxels { dst[i] = offset[c] }
                    for k in 0..<nf {
                        let m = mixing[c * nf + k]
                        let src = f.baseAddress! + k * voxels
                        for i in 0..<voxels { dst[i] += m * src[i] }
                    }
                    for i in 0..<voxels { dst[i] = Foundation.tanh(dst[i]) }
                }
            }
        }
        let video = VideoLatent(name: name, channels: nc, frames: lt, height: lh, width: lw, values: latent)
        var rgb = [Float](repeating: 0, count: voxels * 3)
        for i in 0..<voxels { for c in 0..<3 { rgb[i * 3 + c] = min(max(features[c * voxels + i] + 0.5, 0), 1) } }
        return (video, luminance, rgb)
    }

    /// Renders the frames of latent frame `t` and writes its features (`[7, T, H, W]`)
    /// and window luminance (`[T, H, W]`).
    private func encodeLatentFrame(_ t: Int, background: Background,
                                   features: UnsafeMutablePointer<Float>, luminance: UnsafeMutablePointer<Float>) {
        let (ph, pw) = (pixelHeight, pixelWidth)
        let pixels = ph * pw
        let frame = UnsafeMutablePointer<Float>.allocate(capacity: 3 * pixels)
        let sum = UnsafeMutablePointer<Float>.allocate(capacity: 3 * pixels)
        let firstLum = UnsafeMutablePointer<Float>.allocate(capacity: pixels)
        let lastLum = UnsafeMutablePointer<Float>.allocate(capacity: pixels)
        defer { for p in [frame, sum, firstLum, lastLum] { p.deallocate() } }
        sum.initialize(repeating: 0, count: 3 * pixels)
        let group = frames(ofLatentFrame: t)
        for f in group {
            render(frame: f, background: background, into: frame)
            for i in 0..<(3 * pixels) { sum[i] += frame[i] }
            // The group's first and last frames (the same one for the first latent frame).
            for (edge, lum) in [(group.lowerBound, firstLum), (group.upperBound - 1, lastLum)] where f == edge {
                for i in 0..<pixels { lum[i] = ProceduralScene.luma(frame[3 * i], frame[3 * i + 1], frame[3 * i + 2]) }
            }
        }
        let scale = 1 / Float(group.count)
        for i in 0..<(3 * pixels) { sum[i] *= scale }

        let s = ProceduralScene.renderScale, half = s / 2
        let (lh, lw) = (latentHeight, latentWidth)
        let voxels = latentFrames * lh * lw
        let inWindow = 1 / Float(s * s), inHalf = 1 / Float(s * half)
        for ly in 0..<lh {
            for lx in 0..<lw {
                var r: Float = 0, g: Float = 0, b: Float = 0, l: Float = 0, l2: Float = 0
                var left: Float = 0, top: Float = 0, motion: Float = 0
                for dy in 0..<s {
                    for dx in 0..<s {
                        let p = (ly * s + dy) * pw + lx * s + dx
                        let (pr, pg, pb) = (sum[3 * p], sum[3 * p + 1], sum[3 * p + 2])
                        let lum = ProceduralScene.luma(pr, pg, pb)
                        r += pr; g += pg; b += pb
                        l += lum; l2 += lum * lum
                        if dx < half { left += lum }
                        if dy < half { top += lum }
                        motion += abs(lastLum[p] - firstLum[p])
                    }
                }
                let mean = l * inWindow
                let contrast = max(0, l2 * inWindow - mean * mean).squareRoot()
                let gx = (l - left) * inHalf - left * inHalf
                let gy = (l - top) * inHalf - top * inHalf
                let v = (t * lh + ly) * lw + lx
                let values: (Float, Float, Float, Float, Float, Float, Float) =
                    (r * inWindow - 0.5, g * inWindow - 0.5, b * inWindow - 0.5,
                     4 * contrast, 4 * gx, 4 * gy, 4 * motion * inWindow)
                features[v] = values.0
                features[voxels + v] = values.1
                features[2 * voxels + v] = values.2
                features[3 * voxels + v] = values.3
                features[4 * voxels + v] = values.4
                features[5 * voxels + v] = values.5
                features[6 * voxels + v] = values.6
                luminance[v] = mean
            }
        }
    }

    // MARK: - Rendering

    /// Video frame `f` as RGB in `[0, 1]`, `[4H, 4W, 3]` (for looking at the scene).
    public func renderFrame(_ f: Int) -> [Float] {
        precondition((0..<frameCount).contains(f), "frame out of range")
        let background = Background(scene: self)
        var out = [Float](repeating: 0, count: 3 * pixelHeight * pixelWidth)
        out.withUnsafeMutableBufferPointer { render(frame: f, background: background, into: $0.baseAddress!) }
        return out
    }

    /// Pixels the camera pans per video frame.
    var panPerFrame: Int { ProceduralScene.renderScale / 2 }

    /// Draws frame `f` into `out` (`[4H, 4W, 3]`).
    private func render(frame f: Int, background: Background, into out: UnsafeMutablePointer<Float>) {
        let (ph, pw) = (pixelHeight, pixelWidth)
        let k = Float(ph)
        let shift = f * panPerFrame
        // Background: the panorama seen through a window moving right, and a sun that
        // stays in place (far away) where the sky shows.
        let (sunX, sunY, sunR) = (0.8 * Float(pw), 0.14 * k, 0.07 * k)
        background.pixels.withUnsafeBufferPointer { bg in
            background.horizon.withUnsafeBufferPointer { horizon in
                for y in 0..<ph {
                    let src = bg.baseAddress! + (y * background.width + shift) * 3
                    let dst = out + y * pw * 3
                    dst.update(from: src, count: pw * 3)
                    let dy = Float(y) - sunY
                    guard abs(dy) < sunR else { continue }
                    for x in 0..<pw where Float(y) < horizon[x + shift] {
                        let dx = Float(x) - sunX
                        if dx * dx + dy * dy < sunR * sunR {
                            dst[3 * x] = 1; dst[3 * x + 1] = 0.92; dst[3 * x + 2] = 0.55
                        }
                    }
                }
            }
        }
        let tau = frameCount > 1 ? Float(f) / Float(frameCount - 1) : 0
        // The ball: bounces three times while crossing from left to right.
        let ballR = 0.086 * k
        let ballX = Float(pw) * (0.1 + 0.8 * tau)
        let ballY = k * (0.66 - 0.46 * abs(Foundation.sin(3 * Float.pi * tau)))
        fill(out, width: pw, height: ph, x0: ballX - ballR, x1: ballX + ballR, y0: ballY - ballR, y1: ballY + ballR) { x, y in
            let dx = x - ballX, dy = y - ballY
            guard dx * dx + dy * dy < ballR * ballR else { return nil }
            let lx = dx + 0.27 * ballR, ly = dy + 0.27 * ballR
            let shade = 1 - 0.5 * min(1, (lx * lx + ly * ly) / (2 * ballR * ballR)).squareRoot()
            return (0.05 + 0.8 * shade, 0.05 + 0.12 * shade, 0.05 + 0.1 * shade)
        }
        // The car: a body, a cabin and two wheels, driving right to left in front.
        let carX = Float(pw) * (0.9 - 0.7 * tau), carY = 0.74 * k
        let (bodyW, bodyH) = (0.156 * k, 0.0625 * k)
        fill(out, width: pw, height: ph, x0: carX - bodyW, x1: carX + bodyW, y0: carY - bodyH, y1: carY + bodyH) { _, _ in
            (0.1, 0.1, 0.3)
        }
        let (cabX, cabY, cabW, cabH) = (carX + 0.039 * k, carY - 0.086 * k, 0.078 * k, 0.031 * k)
        fill(out, width: pw, height: ph, x0: cabX - cabW, x1: cabX + cabW, y0: cabY - cabH, y1: cabY + cabH) { _, _ in
            (0.15, 0.15, 0.4)
        }
        let wheelR = 0.035 * k
        for wx in [carX - 0.1 * k, carX + 0.1 * k] {
            let wy = carY + 0.06 * k
            fill(out, width: pw, height: ph, x0: wx - wheelR, x1: wx + wheelR, y0: wy - wheelR, y1: wy + wheelR) { x, y in
                let dx = x - wx, dy = y - wy
                return dx * dx + dy * dy < wheelR * wheelR ? (0.05, 0.05, 0.05) : nil
            }
        }
    }

    /// Paints the pixels of the box `[x0, x1) x [y0, y1)` (clipped to the frame) whose
    /// centre `shape` gives a colour for.
    @inline(__always)
    private func fill(_ out: UnsafeMutablePointer<Float>, width: Int, height: Int,
                      x0: Float, x1: Float, y0: Float, y1: Float,
                      _ shape: (Float, Float) -> (Float, Float, Float)?) {
        let xa = max(0, Int(x0.rounded(.down))), xb = min(width, Int(x1.rounded(.up)))
        let ya = max(0, Int(y0.rounded(.down))), yb = min(height, Int(y1.rounded(.up)))
        guard xa < xb, ya < yb else { return }
        for y in ya..<yb {
            for x in xa..<xb {
                let px = Float(x) + 0.5, py = Float(y) + 0.5
                guard px >= x0, px < x1, py >= y0, py < y1, let c = shape(px, py) else { continue }
                let p = out + (y * width + x) * 3
                p[0] = c.0; p[1] = c.1; p[2] = c.2
            }
        }
    }

    /// The panorama the camera pans over: sky and hills, `[4H, width, 3]`, and the row
    /// of the horizon in every column.
    struct Background: Sendable {
        let width: Int
        let pixels: [Float]
        let horizon: [Float]

        init(scene: ProceduralScene) {
            let ph = scene.pixelHeight
            let w = scene.pixelWidth + scene.panPerFrame * (scene.frameCount - 1)
            let k = Float(ph) / 256
            let texture = ValueNoise.octaves(height: ph, width: w, seed: scene.seed,
                                             layers: [(32 * k, 0.5), (8 * k, 0.3), (3 * k, 0.2)])
            var horizon = [Float](repeating: 0, count: w)
            for x in 0..<w {
                let u = Float(x) / k
                horizon[x] = Float(ph) * 0.45 + k * (18 * Foundation.sin(u / 60) + 10 * Foundation.sin(u / 23 + 1))
            }
            var pixels = [Float](repeating: 0, count: ph * w * 3)
            for y in 0..<ph {
                let v = Float(y) / Float(ph)
                for x in 0..<w {
                    let tex = texture[y * w + x]
                    let p = (y * w + x) * 3
                    if Float(y) < horizon[x] {
                        let cloud = 0.08 * (tex - 0.5)
                        pixels[p] = 0.62 + 0.2 * v + cloud
                        pixels[p + 1] = 0.75 + 0.15 * v + cloud
                        pixels[p + 2] = 0.97 - 0.05 * v + cloud
                    } else {
                        let stripe: Float = Foundation.sin((Float(x) / 9 + Float(y) / 5) / k) >= 0 ? 1 : 0.7
                        pixels[p] = (0.25 + 0.35 * tex) * stripe
                        pixels[p + 1] = (0.45 + 0.35 * tex) * stripe
                        pixels[p + 2] = (0.15 + 0.2 * tex) * stripe
                    }
                }
            }
            self.width = w
            self.pixels = pixels
            self.horizon = horizon
        }
    }
}

/// Smooth value noise: seeded random values on a square lattice, interpolated with a
/// smoothstep; several layers of different cell sizes summed with weights.
enum ValueNoise {
    /// `[height, width]` values in about `[0, 1]` (for weights summing to 1).
    static func octaves(height: Int, width: Int, seed: UInt64, layers: [(cell: Float, weight: Float)]) -> [Float] {
        var out = [Float](repeating: 0, count: height * width)
        for (layer, (cell, weight)) in layers.enumerated() {
            let gh = Int(Float(height) / cell) + 2, gw = Int(Float(width) / cell) + 2
            var g = SeededGenerator(seed: seed, stream: 100 + UInt64(layer))
            let lattice = (0..<(gh * gw)).map { _ in Float(g.uniform()) }
            let xs = (0..<width).map { x -> (Int, Float) in
                let u = Float(x) / cell
                let i = Int(u)
                let f = u - Float(i)
                return (i, f * f * (3 - 2 * f))
            }
            for y in 0..<height {
                let v = Float(y) / cell
                let j = Int(v)
                var fy = v - Float(j)
                fy = fy * fy * (3 - 2 * fy)
                for x in 0..<width {
                    let (i, fx) = xs[x]
                    let a = lattice[j * gw + i], b = lattice[j * gw + i + 1]
                    let c = lattice[(j + 1) * gw + i], d = lattice[(j + 1) * gw + i + 1]
                    out[y * width + x] += weight * ((a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy)
                }
            }
        }
        return out
    }
}

extension ProceduralScene {
    /// The grey value of an RGB pixel (components in `[0, 1]`): Rec. 601 luma weights,
    /// as video codecs and JPEG use.
    @inline(__always) static func luma(_ r: Float, _ g: Float, _ b: Float) -> Float {
        0.299 * r + 0.587 * g + 0.114 * b
    }
}
