import Foundation
import Testing
@testable import NablaCore

/// Issue 19, item 1: `--head-select` reads only the selected heads' bytes (`HeadRead`), in
/// every format, and what it builds is what the whole-tensor path builds from the same
/// heads, bit for bit: the same 16-bit or Float rows, the same pooled vectors, the same map.
@Suite("Reading only the selected heads")
struct HeadReadTests {
    static let grid = TokenGrid(t: 2, h: 8, w: 8)
    static let heads = 4, d = 16
    static var tokens: Int { grid.tokens }

    /// `[heads, S, D]` values, distinct per head, token and dimension.
    static func values(seed: Double) -> [Float] {
        (0..<(heads * tokens * d)).map { (i: Int) -> Float in
            let a: Double = sin(Double(i) * 0.013 + seed) * 3
            let b: Double = cos(Double(i % 97) * seed)
            return Float(a + b)
        }
    }

    /// `x` (`[heads, S, D]`) laid out `[S, heads, D]`.
    static func tokenMajor(_ x: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for h in 0..<heads {
            for s in 0..<tokens {
                for j in 0..<d { out[(s * heads + h) * d + j] = x[(h * tokens + s) * d + j] }
            }
        }
        return out
    }

    /// The input the whole-tensor path builds (every byte read, then heads picked) and the
    /// one `QKInput.reading` builds, for `picked` heads of `q`/`k` in `path`.
    static func both(_ q: PlannedTensor, _ k: PlannedTensor, layout: LayoutOptions, picked: [Int],
                     half: Bool) throws -> (old: QKInput, new: QKInput) {
        let (l, _) = try QKInput.layouts(q: q, k: k, v: nil, options: layout)
        let selection = HeadSelection(picked)
        let old = try QKInput.from(q: q.load(), k: k.load(), v: nil, layout: l, vLayout: nil, name: "x",
                                   heads: selection, halfInPlace: half)
        let new = try QKInput.reading(q: q, k: k, v: nil, layout: l, vLayout: nil, name: "x", heads: selection,
                                      halfInPlace: half)
        return (old, new)
    }

    /// Every row's bytes, the head indices, the pooled vectors and the map agree exactly.
    static func expectSame(_ a: QKInput, _ b: QKInput, _ what: String) throws {
        #expect(a.headIndices == b.headIndices, "\(what)")
        #expect(a.q.element == b.q.element, "\(what)")
        let size = a.headDim * a.q.element.size
        var same = true
        for (x, y) in [(a.q, b.q), (a.k, b.k)] {
            for h in 0..<a.heads {
                for s in 0..<a.grid.tokens where memcmp(x.rawRow(h, s), y.rawRow(h, s), size) != 0 { same = false }
            }
        }
        #expect(same, "\(what): rows differ")
        let blocks = try BlockGrid(grid: a.grid, block: BlockShape(bt: 1, bh: 4, bw: 4))
        let pa = PooledBlocks(input: a, blocks: blocks), pb = PooledBlocks(input: b, blocks: blocks)
        #expect(pa.qa.map(\.bitPattern) == pb.qa.map(\.bitPattern) && pa.ka.map(\.bitPattern) == pb.ka.map(\.bitPattern),
                "\(what): pooled vectors differ")
        #expect(PooledMap.compute(pa).probs.map(\.bitPattern) == PooledMap.compute(pb).probs.map(\.bitPattern), "\(what): maps differ")
    }

    static let selections: [[Int]] = [[0], [2], [1, 3], [0, 1, 2], [3]]

    /// Checks every selection, with spans of a few bytes (many spans, rows split across
    /// stream chunks) and of the default size.
    static func checkAll(_ q: PlannedTensor, _ k: PlannedTensor, layout: LayoutOptions, _ what: String) throws {
        for picked in selections {
            for half in [false, true] {
                for span in [40, 1 << 24] {
                    let (old, new) = try HeadRead.$spanBytes.withValue(span) {
                        try both(q, k, layout: layout, picked: picked, half: half)
                    }
                    try expectSame(old, new, "\(what) heads \(picked) half \(half) span \(span)")
                }
            }
        }
    }

    static let raster = LayoutOptions(grid: grid, order: .raster)

    @Test("npy float32 [heads, S, D] and float16 [S, heads, D]: the selected heads equal the whole path's, bit for bit")
    func npy() throws {
        let dir = try TempDir()
        try NPY.write(Self.values(seed: 1), shape: [Self.heads, Self.tokens, Self.d], to: dir.file("q.npy"))
        try NPY.write(Self.values(seed: 2), shape: [Self.heads, Self.tokens, Self.d], to: dir.file("k.npy"))
        try NPY.write(float16: Self.tokenMajor(Self.values(seed: 3)), shape: [Self.tokens, Self.heads, Self.d], to: dir.file("q16.npy"))
        try NPY.write(float16: Self.tokenMajor(Self.values(seed: 4)), shape: [Self.tokens, Self.heads, Self.d], to: dir.file("k16.npy"))
        for (q, k) in [("q.npy", "k.npy"), ("q16.npy", "k16.npy")] {
            try Self.checkAll(TensorFile.open(path: dir.file(q)).planned(nil), TensorFile.open(path: dir.file(k)).planned(nil),
                              layout: Self.raster, q)
        }
    }

    @Test("safetensors bfloat16 [1, S, heads, D] (diffusers) and float32 [heads, T, H, W, D]: bit for bit")
    func safetensors() throws {
        let dir = try TempDir()
        let g = Self.grid
        try SafetensorsFile.write([("q", .bfloat16, [1, Self.tokens, Self.heads, Self.d], Self.tokenMajor(Self.values(seed: 5))),
                                   ("k", .bfloat16, [1, Self.tokens, Self.heads, Self.d], Self.tokenMajor(Self.values(seed: 6))),
                                   ("q5", .float32, [Self.heads, g.t, g.h, g.w, Self.d], Self.values(seed: 7)),
                                   ("k5", .float32, [Self.heads, g.t, g.h, g.w, Self.d], Self.values(seed: 8))],
                                  metadata: [:], to: dir.file("qk.safetensors"))
        let f = try TensorFile.open(path: dir.file("qk.safetensors"))
        try Self.checkAll(f.planned("q"), f.planned("k"), layout: Self.raster, "bf16 b s h d")
        try Self.checkAll(f.planned("q5"), f.planned("k5"), layout: LayoutOptions(), "f32 h t y x d")
    }

    @Test("a slice of a whole-model dump (dump.npy[1]) reads only the slice's selected heads, bit for bit")
    func dumpSlice() throws {
        let dir = try TempDir()
        let n = Self.heads * Self.tokens * Self.d
        try NPY.write(Self.values(seed: 9) + Self.values(seed: 10), shape: [2, Self.heads, Self.tokens, Self.d], to: dir.file("dq.npy"))
        try NPY.write(Self.values(seed: 11) + Self.values(seed: 12), shape: [2, Self.heads, Self.tokens, Self.d], to: dir.file("dk.npy"))
        let q = try TensorFile.open(path: dir.file("dq.npy")).planned(nil, index: [1])
        let k = try TensorFile.open(path: dir.file("dk.npy")).planned(nil, index: [1])
        try Self.checkAll(q, k, layout: Self.raster, "dump.npy[1]")
        // Head 2 of item 1 is the 128 * 16 floats at item 1's offset + 2 slabs: only those are read.
        let (l, _) = try QKInput.layouts(q: q, k: k, v: nil, options: Self.raster)
        let counter = FileBytes.ReadCounter()
        let raw = try FileBytes.$readCounter.withValue(counter) { try HeadRead.read(q, layout: l, heads: [2]) }
        #expect(counter.bytes == Self.tokens * Self.d * 4)
        let all = Self.values(seed: 10)
        #expect(raw.floats() == Array(all[(2 * Self.tokens * Self.d)..<(3 * Self.tokens * Self.d)]))
        #expect(n == all.count)
    }

    @Test("torch.save (stored storages) and .npz, stored and deflated (streamed): bit for bit")
    func archives() throws {
        let torch = try TensorFile.open(path: TorchArchiveTests.file("qk.pt"))
        try Self.checkArchive(torch, "qk.pt")
        for name in ["arrays.npz", "arrays_compressed.npz"] {
            let f = try TensorFile.open(path: TorchArchiveTests.file(name))
            try Self.checkArchive(f, name)
        }
        let deflated = try TensorFile.open(path: TorchArchiveTests.file("arrays_compressed.npz")).planned("q")
        #expect(deflated.region?.isSeekable == false, "a deflated member is streamed")
    }

    /// Heads 1 and 0 of an archive's `q`/`k` (2 heads, `[heads, T, H, W, D]`).
    static func checkArchive(_ f: TensorFile, _ what: String) throws {
        let q = try f.planned("q"), k = try f.planned("k")
        #expect(q.region != nil, "\(what) q has a region")
        let (l, _) = try QKInput.layouts(q: q, k: k, v: nil, options: LayoutOptions())
        #expect(l.heads >= 2)
        let blocks = try BlockGrid(grid: l.grid, block: .nabla)
        for picked in [[1], [0]] {
            for span in [40, 1 << 24] {
                let (old, new) = try HeadRead.$spanBytes.withValue(span) {
                    try both(q, k, layout: LayoutOptions(), picked: picked, half: true)
                }
                #expect(old.headIndices == picked && new.headIndices == picked)
                let pa = PooledBlocks(input: old, blocks: blocks), pb = PooledBlocks(input: new, blocks: blocks)
                #expect(pa.qa.map(\.bitPattern) == pb.qa.map(\.bitPattern) && pa.ka.map(\.bitPattern) == pb.ka.map(\.bitPattern),
                        "\(what) heads \(picked) span \(span)")
            }
        }
    }

    @Test("bytes read: a head-major file reads the selected slabs only; the plan and the memory estimate count them")
    func bytesRead() throws {
        let dir = try TempDir()
        let shape = [Self.heads, Self.tokens, Self.d]
        try NPY.write(Self.values(seed: 1), shape: shape, to: dir.file("q.npy"))
        try NPY.write(Self.values(seed: 2), shape: shape, to: dir.file("k.npy"))
        try NPY.write(Self.values(seed: 3), shape: shape, to: dir.file("v.npy"))
        var spec = InputSpec(source: .tensors(q: TensorSource(path: dir.file("q.npy")), k: TensorSource(path: dir.file("k.npy")),
                                              v: TensorSource(path: dir.file("v.npy"))), layout: Self.raster)
        let slab = Self.tokens * Self.d * 4
        for (selection, expected) in [(nil, 3 * Self.heads * slab), (HeadSelection([1, 3]), 3 * 2 * slab), (HeadSelection([2]), 3 * slab)] {
            spec.heads = selection
            #expect(try spec.plan().bytesToRead(heads: selection) == expected)
            let counter = FileBytes.ReadCounter()
            let input = try FileBytes.$readCounter.withValue(counter) { try spec.load() }
            // Reads of the format sniff (262 bytes) and the headers aside.
            #expect(counter.reads.filter { $0 > 262 }.reduce(0, +) == expected, "\(String(describing: selection)): \(counter.reads)")
            #expect(input.headIndices == (selection?.indices ?? [0, 1, 2, 3]))
            #expect(input.v != nil)
        }
        // Without V (masks), V is not read.
        spec.heads = HeadSelection([2])
        let counter = FileBytes.ReadCounter()
        let input = try FileBytes.$readCounter.withValue(counter) { try spec.load(values: false) }
        #expect(counter.reads.filter { $0 > 262 }.reduce(0, +) == 2 * slab && input.v == nil)
    }

    @Test("a non-finite value in a selected head is named by its index in the file's tensor")
    func nonFiniteNamedInTheFile() throws {
        let dir = try TempDir()
        var q = Self.values(seed: 1)
        q[(2 * Self.tokens + 5) * Self.d + 3] = .nan
        try NPY.write(Self.tokenMajor(q), shape: [Self.tokens, Self.heads, Self.d], to: dir.file("q.npy"))
        try NPY.write(Self.values(seed: 2), shape: [Self.tokens, Self.heads, Self.d], to: dir.file("k.npy"))
        let spec = InputSpec(source: .tensors(q: TensorSource(path: dir.file("q.npy")), k: TensorSource(path: dir.file("k.npy")), v: nil),
                             layout: Self.raster, heads: HeadSelection([1, 2]))
        expectNablaError(.nonFinite, ["q.npy", "[5, 2, 3]", "head 2, token 5, dim 3"]) { _ = try spec.load() }
        // A head without it loads.
        var other = spec
        other.heads = HeadSelection([0, 3])
        #expect(try other.load().heads == 2)
    }
}
