import Foundation
import Testing
@testable import NablaCore

/// A random latent `[C, T, H, W]` and helpers to store it in other layouts.
struct LatentFixture {
    let c: Int, t: Int, h: Int, w: Int
    let values: [Float]

    init(c: Int = 16, t: Int = 3, h: Int = 20, w: Int = 24, seed: UInt64 = 5) {
        self.c = c; self.t = t; self.h = h; self.w = w
        var rng = SeededRandom(seed: seed)
        values = (0..<(c * t * h * w)).map { _ in rng.normal() }
    }

    /// A fixture with the given values (`[C, T, H, W]`, C order).
    init(c: Int, t: Int, h: Int, w: Int, values: [Float]) {
        precondition(values.count == c * t * h * w)
        self.c = c; self.t = t; self.h = h; self.w = w
        self.values = values
    }

    var latent: VideoLatent { VideoLatent(name: "fixture", channels: c, frames: t, height: h, width: w, values: values) }

    /// The values stored with the axes in `order` (letters of `ctyx`), C order.
    func stored(_ order: String) -> (shape: [Int], values: [Float]) {
        let letters = Array(order)
        let sizes: [Character: Int] = ["c": c, "t": t, "y": h, "x": w]
        let shape = letters.map { sizes[$0]! }
        var out = [Float](repeating: 0, count: values.count)
        var strides = [Int](repeating: 1, count: 4)
        for d in stride(from: 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
        for cc in 0..<c { for tt in 0..<t { for yy in 0..<h { for xx in 0..<w {
            let idx: [Character: Int] = ["c": cc, "t": tt, "y": yy, "x": xx]
            let o = zip(letters, strides).reduce(0) { $0 + idx[$1.0]! * $1.1 }
            out[o] = values[((cc * t + tt) * h + yy) * w + xx]
        } } } }
        return (shape, out)
    }

    /// Writes the latent as a float32 .npy in `order` (with a leading batch of 1 when `batch`).
    func write(_ order: String, batch: Bool = false, to dir: TempDir, name: String) throws -> String {
        let (shape, v) = stored(order)
        let path = dir.file(name)
        try NPY.write(v, shape: batch ? [1] + shape : shape, to: path)
        return path
    }
}

@Suite("latent layouts")
struct LatentLayoutTests {
    @Test("the rank-4 guess finds the channels",
          arguments: [([16, 16, 64, 96], "ctyx"), ([16, 64, 96, 16], "tyxc"), ([16, 8, 32, 32], "ctyx"),
                      ([8, 32, 32, 16], "tyxc"), ([21, 60, 104, 16], "tyxc"), ([16, 21, 60, 104], "ctyx"),
                      ([100, 60, 104, 16], "tyxc"), ([48, 5, 30, 40], "ctyx"), ([1, 16, 3, 20, 24], "bctyx")])
    func guess(shape: [Int], axes: String) throws {
        let layout = try LatentLayout(shape: shape, name: "x.npy", axes: nil, batch: nil)
        #expect(String(layout.axes) == axes)
        #expect(!layout.reason.text().isEmpty)
    }

    @Test("--axes overrides the guess")
    func axesOverride() throws {
        let layout = try LatentLayout(shape: [16, 64, 96, 16], name: "x.npy", axes: "c t y x", batch: nil)
        #expect(String(layout.axes) == "ctyx")
        #expect(layout.reason.text() == "named by axes 'c t y x' (given by the caller)")
        #expect(layout.reason.mentions == [SettingMention(setting: .axes, value: "'c t y x'", role: .value(source: .caller))])
    }

    @Test("every layout and --axes give the same latent and the same Q/K")
    func layoutsAgree() throws {
        let fixture = LatentFixture()
        let dir = try TempDir()
        let files: [(String, String?, Int?)] = [
            (try fixture.write("ctyx", to: dir, name: "cthw.npy"), nil, nil),
            (try fixture.write("tyxc", to: dir, name: "thwc.npy"), nil, nil),
            (try fixture.write("ctyx", batch: true, to: dir, name: "bcthw.npy"), nil, nil),
            (try fixture.write("yxtc", to: dir, name: "hwtc.npy"), "y x t c", nil),
            (try fixture.write("tcyx", batch: true, to: dir, name: "btchw.npy"), "b t c y x", 0),
        ]
        let options = SynthesisOptions(heads: 2, headDim: 16, seed: 9)
        let expected = try AttentionStandIn.input(from: fixture.latent, options: options)
        for (path, axes, batch) in files {
            let latent = try VideoLatent(try NPY.read(path: path), axes: axes, batch: batch)
            #expect(latent.values == fixture.values, "\(path)")
            let input = try AttentionStandIn.input(from: latent, options: options)
            #expect(input.q.denseArray() == expected.q.denseArray(), "\(path)")
            #expect(input.k.denseArray() == expected.k.denseArray(), "\(path)")
            #expect(input.v?.denseArray() == expected.v?.denseArray(), "\(path)")
            #expect(input.grid == TokenGrid(t: 3, h: 10, w: 12))
        }
    }

    @Test("float16 and bfloat16 latents are read")
    func halfPrecision() throws {
        let fixture = LatentFixture(c: 4, t: 2, h: 4, w: 6)
        let dir = try TempDir()
        let f16 = dir.file("h.npy")
        try NPY.write(float16: fixture.values, shape: [4, 2, 4, 6], to: f16)
        let latent = try VideoLatent(try NPY.read(path: f16))
        #expect(latent.values == fixture.values.map { halfToFloat(floatToHalf($0)) })
        let st = dir.file("l.safetensors")
        try SafetensorsFile.write([("latent", .bfloat16, [1, 4, 2, 4, 6], fixture.values)], metadata: [:], to: st)
        let b = try VideoLatent(try TensorSource(path: st).load())
        #expect(b.channels == 4 && b.frames == 2 && b.height == 4 && b.width == 6)
        // bfloat16 is float32's top 16 bits, rounded to nearest, ties to even (the format's definition).
        let bf16 = fixture.values.map { v -> Float in
            let bits = v.bitPattern
            return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
        }
        #expect(b.values == bf16)
        #expect(b.values != fixture.values)  // the fixture's values do need rounding
    }

    /// The error `body` throws.
    func error(_ body: () throws -> Void) -> NablaError? { nablaError(body) }

    @Test("bad latents give clear errors")
    func badLatents() throws {
        let dir = try TempDir()
        func load(_ shape: [Int], _ values: [Float]? = nil, axes: String? = nil, batch: Int? = nil) throws -> QKInput {
            let path = dir.file("bad.npy")
            try NPY.write(values ?? [Float](repeating: 0.5, count: shape.reduce(1, *)), shape: shape, to: path)
            let latent = try VideoLatent(try NPY.read(path: path), axes: axes, batch: batch)
            return try AttentionStandIn.input(from: latent, options: SynthesisOptions(heads: 1, headDim: 8))
        }
        let rank = error { _ = try load([16, 20, 24]) }
        #expect(rank?.code == .badShape)
        #expect(rank?.message.contains("[16, 20, 24]") == true)
        #expect(rank?.message.contains("not a video latent") == true)

        let patch = error { _ = try load([16, 3, 20, 25]) }
        #expect(patch?.code == .badGrid)
        #expect(patch?.message.contains("patch 1x2x2 does not divide latent") == true)
        #expect(patch?.message.contains("3x20x25") == true)

        var values = [Float](repeating: 0.5, count: 16 * 2 * 4 * 4)
        values[((3 * 2 + 1) * 4 + 2) * 4 + 1] = .nan
        let nan = error { _ = try load([16, 2, 4, 4], values) }
        #expect(nan?.code == .nonFinite)
        #expect(nan?.message.contains("[3, 1, 2, 1]") == true)
        #expect(nan?.message.contains("channel 3, frame 1, row 2, column 1") == true)

        let empty = error { _ = try load([16, 0, 20, 24]) }
        #expect(empty?.code == .badShape)
        #expect(empty?.message.contains("empty") == true)
        #expect(empty?.message.contains("T has size 0") == true)

        let ambiguous = error { _ = try load([100, 3, 20, 100]) }
        #expect(ambiguous?.code == .badShape)
        #expect(ambiguous?.message.contains("name the axes with the axes setting (letters b c t y x") == true)
        #expect(ambiguous?.wording.mentions.map(\.setting) == [.axes])

        let batch = error { _ = try load([2, 16, 2, 4, 4]) }
        #expect(batch?.code == .badShape)
        #expect(batch?.message.contains("choose one item with the batch setting (I) (0...1)") == true)
        #expect(try load([2, 16, 2, 4, 4], batch: 1).grid == TokenGrid(t: 2, h: 2, w: 2))

        let axes = error { _ = try load([16, 2, 4, 4], axes: "c t y q") }
        #expect(axes?.code == .badArgument)
        #expect(axes?.message.contains("'q'") == true)
    }
}
