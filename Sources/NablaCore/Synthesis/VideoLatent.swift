/// A video latent as a VAE encoder produces it: `C` channels over `T` frames of
/// `H x W`, in `Float`, laid out `[C, T, H, W]` in C order.
public struct VideoLatent: Sendable, Equatable {
    /// How the latent is named in messages and summaries.
    public let name: String
    public let channels: Int
    public let frames: Int
    public let height: Int
    public let width: Int
    /// `[C, T, H, W]`, C order.
    public let values: [Float]

    public init(name: String, channels: Int, frames: Int, height: Int, width: Int, values: [Float]) {
        precondition(channels > 0 && frames > 0 && height > 0 && width > 0, "latent dimensions must be positive")
        precondition(values.count == channels * frames * height * width, "values must be [C, T, H, W]")
        self.name = name
        self.channels = channels
        self.frames = frames
        self.height = height
        self.width = width
        self.values = values
    }

    /// Voxels per channel, `T * H * W`.
    public var voxels: Int { frames * height * width }

    /// `"16x64x96 (T x H x W), 16 channels"`.
    public var sizeText: String { "\(frames)x\(height)x\(width) (T x H x W), \(channels) channels" }

    /// The value of channel `c` at frame `t`, row `y`, column `x`.
    @inlinable public func value(c: Int, t: Int, y: Int, x: Int) -> Float {
        values[((c * frames + t) * height + y) * width + x]
    }

    /// Reads a latent from a tensor read from a file, in the layout `LatentLayout`
    /// resolves for its shape (or `axes`), converting any floating dtype to `Float`.
    /// A missing `t` or `c` axis (named away with `axes`) has size 1.
    /// - Throws: `NablaError` from `LatentLayout`; `.unsupported` for an integer tensor;
    ///   `.nonFinite` naming the first NaN or infinity by its index in the file and its
    ///   (channel, frame, row, column).
    /// - Complexity: O(count of the tensor).
    public init(_ raw: RawTensor, axes: String? = nil, batch: Int? = nil) throws {
        try self.init(raw, layout: LatentLayout(shape: raw.shape, name: raw.name, axes: axes, batch: batch))
    }

    /// Reads a latent from a tensor read from a file, in a layout already resolved for
    /// its shape.
    /// - Throws: `.unsupported` for an integer tensor; `.nonFinite` as above.
    public init(_ raw: RawTensor, layout: LatentLayout) throws {
        try VideoLatent.checkDType(raw)
        let shape = raw.shape
        var strides = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
        func size(_ c: Character) -> Int { layout.size(c, in: shape) }
        func strideOf(_ c: Character) -> Int { layout.axes.firstIndex(of: c).map { strides[$0] } ?? 0 }
        let (nc, nt, nh, nw) = (size("c"), size("t"), size("y"), size("x"))
        let (sc, st, sy, sx) = (strideOf("c"), strideOf("t"), strideOf("y"), strideOf("x"))
        let base = layout.batchIndex * strideOf("b")

        let source = raw.float32View.map(Array.init) ?? raw.floats()
        var out = [Float](repeating: 0, count: nc * nt * nh * nw)
        var bad: (flat: Int, c: Int, t: Int, y: Int, x: Int)?
        source.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var o = 0
                loops: for c in 0..<nc {
                    for t in 0..<nt {
                        for y in 0..<nh {
                            var i = base + c * sc + t * st + y * sy
                            for x in 0..<nw {
                                let v = src[i]
                                if !v.isFinite { bad = (i, c, t, y, x); break loops }
                                dst[o] = v
                                o += 1
                                i += sx
                            }
                        }
                    }
                }
            }
        }
        if let bad {
            let index = raw.multiIndex(ofFlat: bad.flat).map(String.init).joined(separator: ", ")
            throw NablaError(.nonFinite, "\(raw.name): \(raw.nonFiniteDescription(atFlat: bad.flat)) at [\(index)] (channel \(bad.c), frame \(bad.t), row \(bad.y), column \(bad.x)); a latent must be finite")
        }
        self.init(name: raw.name, channels: nc, frames: nt, height: nh, width: nw, values: out)
    }

    /// - Throws: `NablaError.unsupported` when `raw` is not floating point.
    public static func checkDType(_ raw: RawTensor) throws {
        try raw.requireFloatingPoint(as: "a latent")
    }

    /// Each channel shifted and scaled to mean 0 and variance 1 over its `T * H * W`
    /// voxels (a constant channel is only centred), so the stand-in layer sees the same
    /// input whatever the VAE's scaling.
    /// - Complexity: O(C * T * H * W).
    public func standardized() -> VideoLatent {
        let n = voxels
        var out = values
        out.withUnsafeMutableBufferPointer { v in
            for c in 0..<channels {
                let p = v.baseAddress! + c * n
                var sum = 0.0
                for i in 0..<n { sum += Double(p[i]) }
                let mean = sum / Double(n)
                var sq = 0.0
                for i in 0..<n {
                    let d = Double(p[i]) - mean
                    sq += d * d
                }
                let std = (sq / Double(n)).squareRoot()
                let scale = std > 1e-12 ? Float(1 / std) : 1
                let m = Float(mean)
                for i in 0..<n { p[i] = (p[i] - m) * scale }
            }
        }
        return VideoLatent(name: name, channels: channels, frames: frames, height: height, width: width, values: out)
    }
}
