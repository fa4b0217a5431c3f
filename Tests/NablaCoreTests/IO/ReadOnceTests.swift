import Foundation
import Testing
@testable import NablaCore

/// Planning reads headers only; loading reads each chosen tensor's data exactly once,
/// in chunks that report progress and can be cancelled (issue 8).
@Suite("reading: headers for plans, data once, progress and cancel")
struct ReadOnceTests {
    static let shape = [2, 64, 16]
    static var dataBytes: Int { shape.reduce(1, *) * 4 }

    /// q.npy and k.npy, f32 `[2, 64, 16]` on grid 1x8x8, distinct values.
    func qk(_ dir: TempDir) throws -> (InputSpec, [Float], [Float]) {
        let count = Self.shape.reduce(1, *)
        let q = (0..<count).map { Float($0 % 97) / 97 }, k = (0..<count).map { Float($0 % 89) / 89 - 0.5 }
        try NPY.write(q, shape: Self.shape, to: dir.file("q.npy"))
        try NPY.write(k, shape: Self.shape, to: dir.file("k.npy"))
        let spec = InputSpec(source: .tensors(q: TensorSource(path: dir.file("q.npy")), k: TensorSource(path: dir.file("k.npy")), v: nil),
                             layout: LayoutOptions(grid: TokenGrid(t: 1, h: 8, w: 8), order: .raster))
        return (spec, q, k)
    }

    func counted<T>(_ body: () throws -> T) rethrows -> (T, FileBytes.ReadCounter) {
        let counter = FileBytes.ReadCounter()
        let result = try FileBytes.$readCounter.withValue(counter) { try body() }
        return (result, counter)
    }

    @Test("plan, memory check, resolve and info read headers only (no read reaches the data)")
    func planReadsHeaders() throws {
        let dir = try TempDir()
        let (spec, _, _) = try qk(dir)
        let (_, counter) = try counted {
            _ = try spec.plan()
            try spec.checkMemory(block: BlockShape(bt: 1, bh: 4, bw: 4), use: .maskFiles, halfInPlace: true)
            _ = try spec.resolved()
            _ = try FileSummary(path: dir.file("q.npy"), layout: LayoutOptions(), synthesis: SynthesisOptions(),
                                block: BlockShape(bt: 1, bh: 4, bw: 4))
        }
        // The format sniff (262 bytes) and each header (128); the data (8 KiB per file) is never read.
        #expect(counter.reads.allSatisfy { $0 <= 262 }, "reads: \(counter.reads)")
        #expect(counter.bytes < Self.dataBytes / 2)
    }

    @Test("load reads each tensor's data exactly once, and the values are the file's")
    func loadReadsOnce() throws {
        let dir = try TempDir()
        let (spec, q, k) = try qk(dir)
        let (input, counter) = try counted { try spec.load() }
        #expect(counter.reads.filter { $0 > 262 } == [Self.dataBytes, Self.dataBytes], "reads: \(counter.reads)")
        #expect(input.q.denseArray() == q && input.k.denseArray() == k)
    }

    @Test("a pair of a whole-model dump reads only its own slice of the stacked tensor")
    func dumpSliceReadsSlice() throws {
        let dir = try TempDir()
        // [layers 3, heads 2, S 64, D 16]: pair 1 is the second quarter... third of the data.
        let per = Self.shape.reduce(1, *)
        let q = (0..<(3 * per)).map { Float($0 % 101) / 101 }
        try NPY.write(q, shape: [3] + Self.shape, to: dir.file("q.npy"))
        try NPY.write(q.map { -$0 }, shape: [3] + Self.shape, to: dir.file("k.npy"))
        var qs = TensorSource(path: dir.file("q.npy")), ks = TensorSource(path: dir.file("k.npy"))
        qs.index = [1]
        ks.index = [1]
        let spec = InputSpec(source: .tensors(q: qs, k: ks, v: nil), layout: LayoutOptions(grid: TokenGrid(t: 1, h: 8, w: 8), order: .raster))
        let (input, counter) = try counted { try spec.load() }
        #expect(counter.reads.filter { $0 > 262 } == [Self.dataBytes, Self.dataBytes], "reads: \(counter.reads)")
        #expect(input.q.denseArray() == Array(q[per..<(2 * per)]))
        #expect(input.k.denseArray() == q[per..<(2 * per)].map { -$0 })
    }

    @Test("progress: one call per chunk, bytes rising to the total of Q and K, read in many chunks on all cores")
    func progressReports() throws {
        let dir = try TempDir()
        let (spec, q, k) = try qk(dir)
        let calls = Calls()
        let input = try FileBytes.$chunkSize.withValue(1000) {
            try spec.load(progress: { name, done, total in calls.add(name, done, total) })
        }
        #expect(input.q.denseArray() == q && input.k.denseArray() == k)
        let seen = calls.all
        let perFile = (Self.dataBytes + 999) / 1000
        #expect(seen.count == 2 * perFile)
        #expect(seen.allSatisfy { $0.total == 2 * Self.dataBytes })
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.done < $1.done })
        #expect(seen.last?.done == 2 * Self.dataBytes)
        #expect(seen.prefix(perFile).allSatisfy { $0.name.hasSuffix("q.npy") } && seen.suffix(perFile).allSatisfy { $0.name.hasSuffix("k.npy") })
    }

    @Test("cancel: a load asked to stop throws .cancelled after the chunk in flight, and a later load works")
    func cancel() throws {
        let dir = try TempDir()
        let (spec, q, _) = try qk(dir)
        let calls = Calls()
        do {
            _ = try FileBytes.$chunkSize.withValue(1000) {
                try spec.load(progress: { name, done, total in calls.add(name, done, total) },
                              isCancelled: { calls.all.count >= 3 })
            }
            Issue.record("a cancelled load returned")
        } catch let e as NablaError {
            #expect(e.code == .cancelled)
            #expect(e.message.contains("q.npy") && e.message.contains("cancelled"), "\(e.message)")
        }
        // Stopped within Q: at most one more chunk per core than asked.
        #expect(calls.all.count < 3 + ProcessInfo.processInfo.activeProcessorCount + 1)
        #expect(calls.all.allSatisfy { $0.name.hasSuffix("q.npy") })
        // Cancelled before anything is read.
        #expect(throws: NablaError.self) { try spec.load(isCancelled: { true }) }
        #expect(try spec.load().q.denseArray() == q)
    }

    final class Calls: @unchecked Sendable {
        private let lock = NSLock()
        private var calls: [(name: String, done: Int, total: Int)] = []
        func add(_ name: String, _ done: Int, _ total: Int) { lock.withLock { calls.append((name, done, total)) } }
        var all: [(name: String, done: Int, total: Int)] { lock.withLock { calls } }
    }
}

extension ReadOnceTests {
    @Test("a torch.save archive plans from its directory, pickle and local headers; load reads the pair's two tensors and checks their storage's CRC once")
    func torchArchive() throws {
        let path = TorchArchiveTests.file("model.pt")
        let spec = InputSpec(source: .latent(TensorSource(path: path, key: "blocks.1.step30")))
        let storage = 2 * 2 * 8 * 16 * 16 * 4 // each tensor's own float32 storage
        let (_, planned) = try counted {
            _ = try spec.plan()
            _ = try FileSummary(path: path)
        }
        #expect(planned.reads.allSatisfy { $0 < storage }, "reads: \(planned.reads)")
        let (input, loaded) = try counted { try spec.load() }
        // q and k are views of one qkv storage (3 x `storage` bytes): each tensor's own
        // bytes are read once; the first read also reads the rest of the storage through
        // (not kept) to check the storage's CRC-32, which covers all of it.
        #expect(loaded.reads.filter { $0 >= storage }.sorted() == [storage, storage, 2 * storage], "reads: \(loaded.reads)")
        let file = try TensorFile.open(path: path)
        let q = try file.tensor("blocks.1.step30.q").floats()
        #expect(input.q.denseArray() == q)
    }
}

extension ReadOnceTests {
    @Test("a tensor planned from a header and rewritten on disk before its data is read is refused, not misread")
    func rewrittenAfterPlan() throws {
        let dir = try TempDir()
        let (_, q, _) = try qk(dir)
        let planned = try TensorFile.open(path: dir.file("q.npy")).planned(nil)
        // np.save rewriting the dump in place (it truncates the same file): same shape and
        // size, other values, a new mtime. (A file replaced by rename keeps the old inode
        // open, which reads consistently as planned.)
        let bytes = try NPY.encode(q.map { $0 + 1 }, shape: Self.shape, name: "q.npy")
        let fd = open(dir.file("q.npy"), O_WRONLY | O_TRUNC)
        #expect(fd >= 0)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, dir.file("q.npy"), &times, 0)
        expectNablaError(.fileUnreadable, ["q.npy", "changed on disk"]) { _ = try planned.load() }
        // Planned again, it reads the new values.
        #expect(try TensorFile.open(path: dir.file("q.npy")).planned(nil).load().floats() == q.map { $0 + 1 })
    }
}
