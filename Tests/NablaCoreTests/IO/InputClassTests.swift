import Foundation
import Testing
@testable import NablaCore

/// The classes of input faults found by the robustness review (issue 9, section 1):
/// each example and the class, on every path that reads Q/K or a latent (`info`'s
/// summary, one file, FILE:q FILE:k, a latent).
@Suite("Inputs accepted or refused rightly")
struct InputClassTests {
    /// A safetensors file built by hand from header text and data bytes, as a file from
    /// another writer would be (nabla's writer cannot write fp8).
    static func rawSafetensors(_ header: String, _ data: [UInt8]) -> [UInt8] {
        var h = Array(header.utf8)
        h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8)
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        return out + h + data
    }

    static func f32(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }

    /// q and k `[2, 8, 8]` (2 heads, a flat sequence of 8 tokens), then an fp8 marker
    /// tensor of shape `[]`, as fp8 checkpoints carry.
    static func fp8File(_ dir: TempDir, name: String = "fp8.safetensors", markerOffsets: String = "[1024, 1025]",
                        metadata: String = #""__metadata__": {"grid": "1x2x4", "order": "raster"}, "#) throws -> String {
        let q: [Float] = (0..<128).map { Float($0 % 7) / 7 }
        let header = #"{\#(metadata)"q": {"dtype": "F32", "shape": [2, 8, 8], "data_offsets": [0, 512]}, "k": {"dtype": "F32", "shape": [2, 8, 8], "data_offsets": [512, 1024]}, "scale": {"dtype": "F8_E4M3", "shape": [], "data_offsets": \#(markerOffsets)}}"#
        return try dir.write(name, rawSafetensors(header, f32(q) + f32(q) + [0x38]))
    }

    // MARK: - dtypes nabla does not read

    @Test("an fp8 marker is listed in info and does not block q and k on any path")
    func fp8Marker() throws {
        let dir = try TempDir()
        let path = try Self.fp8File(dir)
        let summary = try FileSummary(path: path)
        #expect(summary.kind == .qk, "\(summary.problem?.text() ?? "")")
        #expect(summary.tensors.map(\.dtypeName) == ["float32", "float32", "F8_E4M3"])
        #expect(summary.tensors.last?.dtype == nil)
        #expect(summary.text().contains("scale  F8_E4M3  []  (not read by nabla)"))
        // One file, and FILE:q FILE:k.
        #expect(try InputSpec(source: .file(path)).load().heads == 2)
        let pair = InputSpec(source: .tensors(q: TensorSource(path: path, key: "q"), k: TensorSource(path: path, key: "k"), v: nil),
                             layout: LayoutOptions(grid: TokenGrid(t: 1, h: 2, w: 4), order: .raster))
        #expect(try pair.load().grid == TokenGrid(t: 1, h: 2, w: 4))
        // Chosen, it is refused, naming the tensor and its dtype.
        expectNablaError(.unsupported, ["\(path):scale has dtype F8_E4M3, which nabla does not read"]) {
            try InputSpec(source: .tensors(q: TensorSource(path: path, key: "scale"), k: TensorSource(path: path, key: "k"), v: nil)).load()
        }
        expectNablaError(.unsupported, ["\(path):scale has dtype F8_E4M3"]) {
            try InputSpec(source: .latent(TensorSource(path: path, key: "scale"))).load()
        }
    }

    @Test("a latent beside an fp8 marker is the file's one readable tensor")
    func fp8BesideLatent() throws {
        let dir = try TempDir()
        let latent: [Float] = (0..<128).map { Float($0 % 5) }
        let header = #"{"latent": {"dtype": "F32", "shape": [4, 2, 4, 4], "data_offsets": [0, 512]}, "marker": {"dtype": "F8_E5M2", "shape": [1], "data_offsets": [512, 513]}}"#
        let path = try dir.write("l.safetensors", Self.rawSafetensors(header, Self.f32(latent) + [0]))
        #expect(try InputSpec(source: .file(path), synthesis: SynthesisOptions(patch: PatchShape(pt: 1, ph: 1, pw: 1))).load().grid
                == TokenGrid(t: 2, h: 4, w: 4))
        #expect(try TensorFile.open(path: path).tensor(nil).name == "\(path):latent")
    }

    @Test("offsets of unread dtypes are still checked", arguments: [
        ("[1024, 1026]", "span 2 bytes, but shape [] of F8_E4M3 needs 1"),
        ("[1025, 1026]", "run past the end of the file"),
        ("[1000, 1001]", "tensors overlap"),
    ])
    func fp8Offsets(offsets: String, message: String) throws {
        let dir = try TempDir()
        let path = try Self.fp8File(dir, markerOffsets: offsets)
        expectNablaError(.malformedFile, [path, message]) { try SafetensorsFile.open(path: path) }
        expectNablaError(.malformedFile, [path, message]) { try FileSummary(path: path) }
    }

    @Test("a dtype name the format does not define is listed; its offsets still cover the data")
    func undefinedDtype() throws {
        let dir = try TempDir()
        let header = #"{"x": {"dtype": "Q4_K", "shape": [3], "data_offsets": [0, 7]}}"#
        let path = try dir.write("odd.safetensors", Self.rawSafetensors(header, [UInt8](repeating: 1, count: 7)))
        let f = try SafetensorsFile.open(path: path)
        #expect(f.entries.map(\.dtypeName) == ["Q4_K"])
        expectNablaError(.unsupported, ["\(path):x has dtype Q4_K"]) { try f.tensor("x") }
        let gap = try dir.write("gap.safetensors", Self.rawSafetensors(header, [UInt8](repeating: 1, count: 9)))
        expectNablaError(.malformedFile, [gap, "2 trailing bytes"]) { try SafetensorsFile.open(path: gap) }
    }

    // MARK: - __metadata__

    @Test("__metadata__ null is no metadata, as the safetensors library reads it")
    func metadataNull() throws {
        let dir = try TempDir()
        let path = try Self.fp8File(dir, metadata: #""__metadata__": null, "#)
        #expect(try SafetensorsFile.open(path: path).metadata.isEmpty)
        let qk = InputSpec(source: .file(path), layout: LayoutOptions(grid: TokenGrid(t: 1, h: 2, w: 4), order: .raster))
        #expect(try qk.load().heads == 2)
        // Still refused: metadata that is neither an object nor null.
        let bad = try Self.fp8File(dir, name: "bad.safetensors", metadata: #""__metadata__": 3, "#)
        expectNablaError(.malformedFile, [bad, "__metadata__ is a number, not an object of strings"]) { try SafetensorsFile.open(path: bad) }
    }

    @Test("metadata a tensor does not need never blocks it; a bad value that is needed says it came from __metadata__")
    func unneededMetadata() throws {
        let dir = try TempDir()
        let values: [Float] = (0..<128).map { Float($0 % 9) }
        // [heads, T, H, W, D]: the grid comes from the shape; the metadata's order
        // "block", grid "nonsense" and an unknown block must not matter.
        let fiveD = dir.file("five.safetensors")
        try SafetensorsFile.write([("q", .float32, [2, 1, 2, 4, 8], values), ("k", .float32, [2, 1, 2, 4, 8], values)],
                                  metadata: ["grid": "nonsense", "order": "block", "block": "9x9"], to: fiveD)
        #expect(try InputSpec(source: .file(fiveD)).load().grid == TokenGrid(t: 1, h: 2, w: 4))
        #expect(try FileSummary(path: fiveD).kind == .qk)

        // [heads, S, D] needs them: a grid that does not fit names __metadata__, not an option.
        let flat = dir.file("flat.safetensors")
        try SafetensorsFile.write([("q", .float32, [2, 8, 8], values), ("k", .float32, [2, 8, 8], values)],
                                  metadata: ["grid": "1x4x4", "order": "raster"], to: flat)
        let e = expectNablaError(.badGrid, ["\(flat):q: grid 1x4x4 (from __metadata__ of \(flat)) has 16 tokens"]) {
            try InputSpec(source: .file(flat)).load()
        }
        // The grid is named as metadata; the rest are the --axes readings that would fit.
        #expect(e?.wording.mentions.first == SettingMention(setting: .grid, value: "1x4x4", role: .value(source: .metadata(path: flat))))
        #expect(e?.wording.mentions.dropFirst().allSatisfy { $0.setting == .axes && $0.role == .wanted } == true)
        let unparsable = dir.file("junk.safetensors")
        try SafetensorsFile.write([("q", .float32, [2, 8, 8], values), ("k", .float32, [2, 8, 8], values)],
                                  metadata: ["grid": "nonsense", "order": "raster"], to: unparsable)
        expectNablaError(.malformedFile, ["\(unparsable): __metadata__ grid 'nonsense' is not TxHxW"]) {
            try InputSpec(source: .file(unparsable)).load()
        }
        // The caller's grid wins over the metadata's.
        let given = InputSpec(source: .file(flat), layout: LayoutOptions(grid: TokenGrid(t: 1, h: 2, w: 4)))
        #expect(try given.load().grid == TokenGrid(t: 1, h: 2, w: 4))
        // An order of "block" in metadata on a 5-D tensor, once the shape says t y x,
        // is not named in any error (the example of the review said "--order block").
        let block = dir.file("block5.safetensors")
        try SafetensorsFile.write([("q", .float32, [2, 1, 2, 4, 8], values), ("k", .float32, [2, 1, 2, 4, 8], values)],
                                  metadata: ["order": "block"], to: block)
        #expect(try InputSpec(source: .file(block)).load().order == .raster)
    }

    // MARK: - integer and bool Q/K

    @Test("integer and bool Q, K, V and latents are refused, with a hint for int16 bf16 bit patterns")
    func integerInputs() throws {
        let dir = try TempDir()
        // bf16 bit patterns of values in [0.5, 1) stored as int16, as NumPy users do.
        let bits: [Int32] = (0..<1024).map { (i: Int) -> Int32 in Int32(Int16(bitPattern: floatToBFloat16(0.5 + Float(i % 50) / 100))) }
        let k = dir.file("qf.npy")
        try NPY.write(bits.map { Float($0) / 65536 }, shape: [2, 64, 8], to: k)
        // An int16 .npy as np.save writes it.
        var npy = NPY.header(descr: "<i2", shape: [2, 64, 8])
        for b in bits { withUnsafeBytes(of: Int16(b).littleEndian) { npy.append(contentsOf: $0) } }
        let q16 = try dir.write("q16.npy", npy)
        let layout = LayoutOptions(grid: TokenGrid(t: 1, h: 8, w: 8), order: .raster)
        let hint = "if it holds bfloat16 bit patterns"
        expectNablaError(.unsupported, ["\(q16): Q must be floating point", "this tensor is int16 [2, 64, 8]", hint]) {
            try InputSpec(source: .tensors(q: TensorSource(path: q16), k: TensorSource(path: k), v: nil), layout: layout).load()
        }
        expectNablaError(.unsupported, ["\(q16): K must be floating point"]) {
            try InputSpec(source: .tensors(q: TensorSource(path: k), k: TensorSource(path: q16), v: nil), layout: layout).load()
        }
        expectNablaError(.unsupported, ["\(q16): V must be floating point"]) {
            try InputSpec(source: .tensors(q: TensorSource(path: k), k: TensorSource(path: k), v: TensorSource(path: q16)), layout: layout).load()
        }
        // One safetensors file holding bool q and k, and an int32 latent.
        let boolFile = dir.file("b.safetensors")
        let ones = [Float](repeating: 1, count: 2 * 64 * 8)
        try SafetensorsFile.write([("q", .bool, [2, 64, 8], ones), ("k", .bool, [2, 64, 8], ones)],
                                  metadata: ["grid": "1x8x8", "order": "raster"], to: boolFile)
        expectNablaError(.unsupported, ["\(boolFile):q: Q must be floating point", "this tensor is bool"]) {
            try InputSpec(source: .file(boolFile)).load()
        }
        let latent = dir.file("lat.npy")
        try NPY.write([Int32](repeating: 3, count: 4 * 2 * 4 * 4), shape: [4, 2, 4, 4], to: latent)
        expectNablaError(.unsupported, ["\(latent): a latent must be floating point", "this tensor is int32"]) {
            try InputSpec(source: .latent(TensorSource(path: latent))).load()
        }
        expectNablaError(.unsupported, ["\(latent): a latent must be floating point"]) {
            try InputSpec(source: .file(latent)).load()
        }
    }

    // MARK: - float64 beyond float32

    @Test("a finite float64 beyond float32 is named as such on the Q/K and latent paths")
    func float64Range() throws {
        let dir = try TempDir()
        var values = [Double](repeating: 0.25, count: 2 * 64 * 8)
        values[5] = 1e39
        let q = dir.file("q64.npy")
        try NPY.write(values, shape: [2, 64, 8], to: q)
        let layout = LayoutOptions(grid: TokenGrid(t: 1, h: 8, w: 8), order: .raster)
        let e = expectNablaError(.nonFinite, ["\(q): value 1e+39, beyond the float32 range nabla computes in", "at [0, 0, 5]"]) {
            try InputSpec(source: .tensors(q: TensorSource(path: q), k: TensorSource(path: q), v: nil), layout: layout).load()
        }
        #expect(e?.message.contains("inf") == false)
        values[5] = -.infinity
        try NPY.write(values, shape: [2, 64, 8], to: q)
        expectNablaError(.nonFinite, ["\(q): non-finite value -inf at [0, 0, 5]"]) {
            try InputSpec(source: .tensors(q: TensorSource(path: q), k: TensorSource(path: q), v: nil), layout: layout).load()
        }
        var latent = [Double](repeating: 0.5, count: 4 * 2 * 4 * 4)
        latent[7] = -3e38 * 10
        let l = dir.file("l64.npy")
        try NPY.write(latent, shape: [4, 2, 4, 4], to: l)
        expectNablaError(.nonFinite, ["\(l): value -3e+39, beyond the float32 range"]) {
            try InputSpec(source: .latent(TensorSource(path: l))).load()
        }
    }

    @Test("float16 and bfloat16 cannot overflow float32: every finite pattern converts to a finite float")
    func halfPrecisionNeverOverflows() {
        for bits in 0...UInt16.max {
            let half = halfToFloat(bits)
            let exponent = (bits >> 10) & 0x1F
            #expect(half.isFinite == (exponent != 0x1F))
            let bf = Float(bitPattern: UInt32(bits) << 16)
            #expect(bf.isFinite == (((bits >> 7) & 0xFF) != 0xFF))
        }
    }

    // MARK: - rank and echoed shapes

    @Test("a .npy of 100,000 dimensions is refused in one short line; so is a safetensors shape of 65")
    func hugeRank() throws {
        let dir = try TempDir()
        let dims = String(repeating: "1, ", count: 100_000)
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        var text = Array(dict.utf8)
        text += [UInt8](repeating: 0x20, count: (64 - (12 + text.count + 1) % 64) % 64) + [0x0A]
        var bytes = NPY.magic + [2, 0]
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: text.count >> (8 * $0)) }
        let path = try dir.write("wide.npy", bytes + text + Self.f32([1]))
        let e = expectNablaError(.malformedFile, ["\(path): .npy header shape has 100000 dimensions; NumPy allows at most 64"]) {
            try NPY.read(path: path)
        }
        #expect((e?.message.count ?? 1000) < 200)

        let shape = Array(repeating: "1", count: 65).joined(separator: ", ")
        let st = try dir.write("wide.safetensors", Self.rawSafetensors(
            #"{"x": {"dtype": "F32", "shape": [\#(shape)], "data_offsets": [0, 4]}}"#, Self.f32([1])))
        let s = expectNablaError(.malformedFile, ["\(st): tensor 'x': shape has 65 dimensions; at most 64 are allowed"]) {
            try SafetensorsFile.open(path: st)
        }
        #expect((s?.message.count ?? 1000) < 200)
    }

    @Test("every message that echoes a shape shortens a long one")
    func shortenedShapes() throws {
        let shape = [Int](repeating: 1, count: 40) + [3]
        #expect(TensorIO.shapeText(shape) == "[1, 1, 1, 1, 1, 1, ..., 3] (41 dimensions)")
        #expect(TensorIO.shapeText(shape, python: true) == "(1, 1, 1, 1, 1, 1, ..., 3) (41 dimensions)")
        #expect(TensorIO.shapeText([5], python: true) == "(5,)")
        #expect(TensorIO.shapeText([2, 3]) == "[2, 3]")
        // The layout, latent and writer messages go through it.
        let layout = #expect(throws: NablaError.self) { try QKLayout(shape: shape, name: "q", options: LayoutOptions()) }
        #expect(layout?.message.contains("(41 dimensions)") == true)
        let latent = #expect(throws: NablaError.self) { try LatentLayout(shape: shape, name: "l", axes: nil, batch: nil) }
        #expect(latent?.message.contains("(41 dimensions)") == true)
        let write = #expect(throws: NablaError.self) { try NPY.encode([Float](), shape: shape, name: "w.npy") }
        #expect(write?.message.contains("(41 dimensions)") == true)
        let dir = try TempDir()
        let big = dir.file("big.npy")
        try NPY.write([Float](repeating: 0, count: 3), shape: shape, to: big)
        let q = #expect(throws: NablaError.self) { try InputSpec(source: .tensors(q: TensorSource(path: big), k: TensorSource(path: big), v: nil)).load() }
        #expect(q?.message.contains("(41 dimensions)") == true)
    }

    // MARK: - files changed on disk

    @Test("a file truncated or rewritten after opening gives an error or the data read before, never a crash")
    func truncatedWhileHeld() throws {
        let dir = try TempDir()
        let path = dir.file("q.npy")
        let values: [Float] = (0..<(4 * 256 * 16)).map { Float($0 % 31) / 31 }
        try NPY.write(values, shape: [4, 256, 16], to: path)
        let layout = LayoutOptions(grid: TokenGrid(t: 4, h: 8, w: 8), order: .block)

        // Loaded, then truncated (np.save rewriting a dump): the input keeps its data and
        // the engine keeps working on it (the app's `b` recomputes from these views).
        let input = try InputSpec(source: .tensors(q: TensorSource(path: path), k: TensorSource(path: path), v: nil), layout: layout).load()
        #expect(truncate(path, 4096) == 0)
        let map = try PooledMap.compute(input, block: .nabla)
        #expect(map?.heads == 4)
        #expect(input.q.row(3, 255)[15] == values[4 * 256 * 16 - 1])

        // Opened (header read), then truncated before the data is read: a clean error.
        try NPY.write(values, shape: [4, 256, 16], to: path)
        let file = try TensorFile.open(path: path)
        #expect(truncate(path, 4096) == 0)
        expectNablaError(.fileUnreadable, [path, "changed on disk while nabla was reading it", "4096 bytes now"]) {
            try file.tensor(nil)
        }
        // Rewritten with the same size: also noticed (the modification time changed).
        try NPY.write(values, shape: [4, 256, 16], to: path)
        let again = try TensorFile.open(path: path)
        var later = timespec(tv_sec: 0, tv_nsec: 0)
        later.tv_sec = time(nil) + 5
        var times = [later, later]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        expectNablaError(.fileUnreadable, [path, "changed on disk"]) { try again.tensor(nil) }

        // A safetensors file truncated between its header and a tensor's data.
        let st = dir.file("qk.safetensors")
        try SafetensorsFile.write([("q", .float32, [4, 256, 16], values), ("k", .float32, [4, 256, 16], values)],
                                  metadata: [:], to: st)
        let sf = try SafetensorsFile.open(path: st)
        #expect(truncate(st, 100) == 0)
        expectNablaError(.fileUnreadable, [st, "changed on disk"]) { try sf.tensor("k") }
    }
}
