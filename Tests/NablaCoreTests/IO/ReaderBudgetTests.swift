import Foundation
import Testing
@testable import NablaCore

/// Issue 22, items 1-6 and 9 (encryption): hostile `.pt` and `.npz` files neither crash
/// nor stall the readers, and cost work and memory in proportion to their size
/// (docs/robustness.md lists the limits).
@Suite("Reader budgets and hostile archives")
struct ReaderBudgetTests {
    static func torchFile(_ name: String) -> String { TorchArchiveTests.file(name) }

    /// The pickle of a torch.save fixture.
    static func pickle(of file: String) throws -> (name: String, bytes: [UInt8]) {
        let path = torchFile(file)
        let zip = try ZipContainer(path: path, source: FileBytes(path: path))
        let m = try #require(zip.members.first { $0.path.hasSuffix("/data.pkl") })
        let (bytes, owner) = try zip.bytes(of: m, limit: 1 << 20)
        return (m.path, withExtendedLifetime(owner) { Array(bytes) })
    }

    /// `bytes` as a torch.save file's members, with `pickle` in place of its data.pkl.
    static func replacingPickle(in file: String, with pickle: [UInt8]) throws -> [UInt8] {
        let path = torchFile(file)
        let zip = try ZipContainer(path: path, source: FileBytes(path: path))
        var members: [(name: String, data: [UInt8])] = []
        for m in zip.members {
            let (bytes, owner) = try zip.bytes(of: m, limit: 1 << 24)
            members.append((m.path, m.path.hasSuffix("/data.pkl") ? pickle : withExtendedLifetime(owner) { Array(bytes) }))
        }
        return StoredZip.make(members)
    }

    /// Opens the archive `bytes` and lists its tensors by key.
    static func keys(_ bytes: [UInt8], dir: TempDir, name: String = "x.pt") throws -> [String] {
        try TensorFile.open(path: dir.write(name, bytes)).keys ?? []
    }

    // MARK: - 1. Marks and the value stack

    @Test("a real torch.save q/k file with (N1 before STOP opens and reads as the original (crashed release builds)")
    func popMarkOnARealFile() throws {
        let dir = try TempDir()
        let (_, p) = try Self.pickle(of: "qk.pt")
        #expect(p.last == UInt8(ascii: "."))
        for extra in ["(N1", "(NNN1", "(1", "(N(N11"] {
            let mutated = Array(p.dropLast()) + Array(extra.utf8) + Pickle.stop
            let path = try dir.write("qk.pt", try Self.replacingPickle(in: "qk.pt", with: mutated))
            let f = try TensorFile.open(path: path)
            #expect(f.keys == ["q", "k"], "\(extra)")
            let original = try TensorFile.open(path: Self.torchFile("qk.pt"))
            #expect(try f.tensor("q").floats() == original.tensor("q").floats(), "\(extra)")
        }
    }

    @Test("no opcode reaches below the topmost MARK: values under it stay, a pop of an empty frame is an error")
    func popsStopAtTheMark() throws {
        // {} ( N 0 0 .: the second POP would take the dict below the mark.
        let cases: [([UInt8], String)] = [
            (Pickle.proto + Pickle.emptyDict + Pickle.mark + Pickle.none + Array("00.".utf8), "stack underflow"),
            (Pickle.proto + Pickle.emptyList + Pickle.mark + Array("a.".utf8), "stack underflow"),
            (Pickle.proto + Pickle.emptyDict + Pickle.none + Pickle.mark + Array("s.".utf8), "stack underflow"),
            (Pickle.proto + Pickle.none + Pickle.mark + [0x85, UInt8(ascii: ".")], "stack underflow"),
            (Pickle.proto + Pickle.none + Pickle.none + Pickle.mark + [0x86, UInt8(ascii: ".")], "stack underflow"),
            (Pickle.proto + Pickle.string("m") + Pickle.mark + Pickle.string("n") + [0x93, UInt8(ascii: ".")], "stack underflow"),
            (Pickle.proto + Pickle.mark + Pickle.tuple + Pickle.mark + [UInt8(ascii: "Q"), UInt8(ascii: ".")], "stack underflow"),
            (Pickle.proto + Pickle.emptyDict + Pickle.mark + [UInt8(ascii: "q"), 0, UInt8(ascii: ".")], "memo write from an empty stack"),
            (Pickle.proto + Pickle.emptyDict + Pickle.mark + Pickle.none + Array("b.".utf8), "BUILD on an empty stack"),
            (Pickle.proto + Pickle.emptyDict + Pickle.mark + Pickle.none + Array("1".utf8) + Array("1.".utf8), "no MARK"),
            (Pickle.proto + Pickle.emptyDict + Pickle.mark + Pickle.none + Pickle.stop, "STOP with 2 values"),
        ]
        for (bytes, part) in cases {
            expectNablaError(.malformedFile, ["p.pkl", part]) { try PickleReaderTests.read(bytes) }
        }
        // POP_MARK leaves exactly what lay below the mark.
        let kinds = try PickleReaderTests.read(Pickle.proto + Pickle.emptyList + Pickle.mark + Pickle.none + Pickle.emptyDict
                                               + Array("1".utf8) + Pickle.stop) { $0.kindName }
        #expect(kinds == "list")
    }

    /// CPython's unpickler keeps a stack and a metastack (the stacks below each MARK):
    /// a naive model of it, driven by random operations next to `ValueStack`.
    @Test("ValueStack agrees with a stack-of-frames model after every operation, failed ones included")
    func valueStackMatchesTheMetastackModel() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var stack = PickleReader.ValueStack()
            var frames: [[Int]] = [[]] // the model: frames[0] is the bottom
            var next = 0
            for _ in 0..<200 {
                switch Int.random(in: 0..<7, using: &rng) {
                case 0, 1:
                    stack.push(.int(next)); frames[frames.count - 1].append(next); next += 1
                case 2:
                    stack.mark(); frames.append([])
                case 3:
                    let got = stack.pop()
                    let want = frames[frames.count - 1].popLast()
                    #expect(got.map(Self.int) == want)
                case 4:
                    let n = Int.random(in: 0...3, using: &rng)
                    let got = stack.pop(n)
                    let frame = frames[frames.count - 1]
                    if frame.count >= n {
                        #expect(got?.map(Self.int) == Array(frame.suffix(n)))
                        frames[frames.count - 1].removeLast(n)
                    } else {
                        #expect(got == nil)
                    }
                case 5:
                    let got = stack.popToMark()
                    if frames.count > 1 { #expect(got?.map(Self.int) == frames.removeLast()) } else { #expect(got == nil) }
                default:
                    let dropped = stack.dropToMark()
                    #expect(dropped == (frames.count > 1))
                    if frames.count > 1 { frames.removeLast() }
                }
                #expect(stack.values.map(Self.int) == frames.flatMap { $0 })
                #expect(stack.frameCount == frames[frames.count - 1].count)
                #expect(stack.top.map(Self.int) == frames[frames.count - 1].last)
            }
        }
    }

    static func int(_ v: PickleReader.Value) -> Int {
        if case .int(let i) = v { return i }
        return -1
    }

    @Test("mark opcodes inserted anywhere in a real pickle give a value or one error line, never a crash")
    func markMutantsOfARealPickle() throws {
        let (_, p) = try Self.pickle(of: "qk.pt")
        var outcomes = (ok: 0, refused: 0)
        for insert in ["(", "1", "0", "(N1", "(1", "t", "e", "u", "(0"] {
            for at in 0...p.count {
                let mutated = Array(p[..<at]) + Array(insert.utf8) + Array(p[at...])
                do {
                    let found = try mutated.withUnsafeBytes { bytes in
                        try PickleReader.read(bytes, name: "p.pkl") { try TorchArchive.collect($0, path: "x.pt") }
                    }
                    _ = found.count
                    outcomes.ok += 1
                } catch let e as NablaError {
                    #expect(!e.message.contains("\n"))
                    outcomes.refused += 1
                }
            }
        }
        #expect(outcomes.ok > 0 && outcomes.refused > 0)
    }

    // MARK: - 2. Sizes from the file are checked, messages included

    @Test("a storage of 2^62 float32 elements is one line (its byte count overflows), not a trap")
    func storageSizeOverflowInTheMessage() throws {
        let dir = try TempDir()
        let p = Pickle.proto + Pickle.tensor(key: "0", numel: 1 << 62, shape: [2], stride: [1]) + Pickle.stop
        let bytes = StoredZip.torch(pickle: p, storages: [("0", leBytes([1, 2]))])
        expectNablaError(.malformedFile, ["archive/data/0 holds 8 bytes", "4611686018427387904 float32 elements", "more than \(Int.max) bytes"]) {
            try TensorFile.open(path: dir.write("big.pt", bytes))
        }
    }

    @Test("sizes, offsets and strides near Int.max: each refused in one line or read, never a trap")
    func hostileNumbersInTensors() throws {
        let dir = try TempDir()
        let big = Int.max
        let cases: [(numel: Int, offset: Int, shape: [Int], stride: [Int], error: String?)] = [
            (2, big, [1], [1], "reach element"),
            (2, 0, [2, big], [1, 1], "too many elements"),
            (2, 0, [big / 2 + 2], [1], "too many elements"),
            (2, 1, [2], [big], "overflow"),
            (4, 0, [2, 2], [1 << 62, 1 << 62], "overflow"),
            (4, 0, [2], [-1], "negative entry"),
            (4, -1, [2], [1], "negative storage offset"),
            (4, 0, [-2], [1], "negative dimension"),
            // No elements: any strides and sizes are fine, even ones whose product
            // with a 0 taken out overflows (this trapped in bytesToRead).
            (4, 0, [0, 1 << 40, 1 << 40], [1, 1 << 40, 1], nil),
            (4, big, [0], [big], nil),
        ]
        for c in cases {
            let p = Pickle.proto + Pickle.dict([("t", Pickle.tensor(key: "0", numel: c.numel, offset: c.offset, shape: c.shape, stride: c.stride))]) + Pickle.stop
            let path = try dir.write("n.pt", StoredZip.torch(pickle: p, storages: [("0", leBytes([1, 2, 3, 4]))]))
            if let error = c.error {
                expectNablaError(.malformedFile, ["n.pt:t", error]) { try TensorFile.open(path: path) }
            } else {
                let f = try TensorFile.open(path: path)
                let planned = try f.planned("t")
                #expect(planned.bytesToRead == 0)
                #expect(try planned.load().count == 0)
            }
        }
        // A shape of more dimensions than any tensor has is refused in the pickle.
        let p = Pickle.proto + Pickle.tensor(key: "0", numel: 1, shape: Array(repeating: 1, count: 100), stride: Array(repeating: 1, count: 100)) + Pickle.stop
        expectNablaError(.malformedFile, ["data.pkl", "100 dimensions"]) {
            try TensorFile.open(path: dir.write("r.pt", StoredZip.torch(pickle: p, storages: [("0", leBytes([1]))])))
        }
    }

    // MARK: - 3. Shared objects: work linear in the pickle

    /// Levels of tuples each holding two references to the level below ("billion
    /// laughs"): `levels` levels over `leaf`, memoised as the pickler would.
    static func laughs(levels: Int, leaf: [UInt8]) -> [UInt8] {
        var p = Pickle.proto + leaf + Pickle.put(0) + [UInt8(ascii: "0")]
        for i in 1...levels {
            p += Pickle.get(UInt32(i - 1)) + Pickle.get(UInt32(i - 1)) + [0x86] + Pickle.put(UInt32(i))
            p += [UInt8(ascii: "0")] // POP: the level stays in the memo only
        }
        return p + Pickle.get(UInt32(levels)) + Pickle.stop
    }

    @Test("billion laughs of 60 levels: no tensors read at once; with a tensor leaf refused by the tensor cap before any name is made")
    func billionLaughs() throws {
        let noTensors = Self.laughs(levels: 60, leaf: Pickle.none)
        #expect(noTensors.count < 1100) // about a kilobyte
        let found = try noTensors.withUnsafeBytes { b in try PickleReader.read(b, name: "p.pkl") { try TorchArchive.collect($0, path: "x.pt") } }
        #expect(found.isEmpty)
        let leaf = Pickle.tensor(key: "0", numel: 1, shape: [1], stride: [1])
        let withTensors = Self.laughs(levels: 60, leaf: leaf)
        expectNablaError(.tooLarge, ["x.pt", "names \(1 << 60) tensors", "limit of \(TorchArchive.maxTensors)"]) {
            try withTensors.withUnsafeBytes { b in try PickleReader.read(b, name: "p.pkl") { try TorchArchive.collect($0, path: "x.pt") } }
        }
        // 21 levels: 2^21 paths, just over the cap of 2^20.
        expectNablaError(.tooLarge, ["2097152 tensors", "limit of \(TorchArchive.maxTensors)"]) {
            try Self.laughs(levels: 21, leaf: leaf).withUnsafeBytes { b in
                try PickleReader.read(b, name: "p.pkl") { try TorchArchive.collect($0, path: "x.pt") }
            }
        }
    }

    @Test("a shared tensor is named once per path, as torch.load's object would show it")
    func sharedTensorsAreNamedPerPath() throws {
        // 4 levels: the one leaf tensor under every 0/1 path of length 4.
        let leaf = Pickle.tensor(key: "0", numel: 1, shape: [1], stride: [1])
        let found = try Self.laughs(levels: 4, leaf: leaf).withUnsafeBytes { b in
            try PickleReader.read(b, name: "p.pkl") { try TorchArchive.collect($0, path: "x.pt") }
        }
        let expected = (0..<16).map { n in (0..<4).map { String(n >> (3 - $0) & 1) }.joined(separator: ".") }
        #expect(found.map(\.0) == expected)
        #expect(Set(found.map(\.1.storage.key)) == ["0"])
        // shared.pt (torch.save of {base, row, t, again=base}): four keys, "again" the same tensor as "base".
        let f = try TensorFile.open(path: Self.torchFile("shared.pt"))
        #expect(f.keys == ["base", "row", "t", "again"])
        #expect(try f.tensor("again").floats() == f.tensor("base").floats())
    }

    @Test("a dict shared by 20,000 paths, holding one tensor among 20,000 other values, is named in linear time")
    func sharedWideContainer() throws {
        // d = {'t': tensor, '0': None, ..., '19999': None}; root = [d, d, ..., d].
        let n = 20_000
        var d = Pickle.emptyDict + Pickle.put(0) + Pickle.mark + Pickle.string("t") + Pickle.tensor(key: "0", numel: 1, shape: [1], stride: [1])
        for i in 0..<n { d += Pickle.string(String(i)) + Pickle.none }
        d += Pickle.setitems + [UInt8(ascii: "0")]
        let p = Pickle.proto + d + Pickle.emptyList + Pickle.mark + (0..<n).flatMap { _ in Pickle.get(0) } + Pickle.appends + Pickle.stop
        let found = try p.withUnsafeBytes { b in try PickleReader.read(b, name: "p.pkl") { try TorchArchive.collect($0, path: "x.pt") } }
        #expect(found.count == n)
        #expect(found.first?.0 == "0.t" && found.last?.0 == "\(n - 1).t")
    }

    @Test("a container holding itself is refused, however it is reached")
    func cycles() throws {
        // l = []; l.append(l); root = {'a': l, 'b': l}
        let l = Pickle.emptyList + Pickle.put(0) + Pickle.get(0) + [UInt8(ascii: "a")]
        let p = Pickle.proto + Pickle.dict([("a", l), ("b", Pickle.get(0))]) + Pickle.stop
        expectNablaError(.malformedFile, ["x.pt", "a container holds itself", "at 'a.0'"]) {
            try p.withUnsafeBytes { b in try PickleReader.read(b, name: "p.pkl") { try TorchArchive.collect($0, path: "x.pt") } }
        }
    }

    // MARK: - 4. No whole-state copies per opcode

    @Test("40,000 storage references read (the reader's state was copied per BINPERSID: 11.5 s)")
    func manyStorageReferences() throws {
        let n = 40_000
        var p = Pickle.proto + Pickle.emptyList + Pickle.mark
        for i in 0..<n { p += Pickle.tensor(key: String(i % 7), numel: 1, shape: [1], stride: [1]) }
        p += Pickle.appends + Pickle.stop
        let found = try p.withUnsafeBytes { b in try PickleReader.read(b, name: "p.pkl") { try TorchArchive.collect($0, path: "x.pt") } }
        #expect(found.count == n)
        #expect(found.last?.0 == "\(n - 1)")
    }

    @Test("a pickle that makes more values than the cap is refused in one line")
    func objectCap() throws {
        let p = Pickle.proto + Pickle.emptyList + Pickle.mark + [UInt8](repeating: UInt8(ascii: "N"), count: 1000) + Pickle.appends + Pickle.stop
        expectNablaError(.tooLarge, ["p.pkl", "makes more than 500 values"]) {
            try p.withUnsafeBytes { b in try PickleReader.read(b, name: "p.pkl", maxObjects: 500) { _ in () } }
        }
        #expect(try p.withUnsafeBytes { b in try PickleReader.read(b, name: "p.pkl", maxObjects: 1001) { $0.kindName } } == "list")
    }

    // MARK: - 5. Small files, large memory

    @Test("an expanded (stride 0) view of a 4-byte storage as 2^42 elements opens lazily and refuses its copy in one line")
    func expandedViewsStayLazy() throws {
        let dir = try TempDir()
        let p = Pickle.proto + Pickle.dict([("q", Pickle.tensor(key: "0", numel: 1, shape: [1 << 21, 1 << 21], stride: [0, 0]))]) + Pickle.stop
        let path = try dir.write("expand.pt", StoredZip.torch(pickle: p, storages: [("0", leBytes([7]))]))
        let f = try TensorFile.open(path: path)
        #expect(f.listing.map(\.shape) == [[1 << 21, 1 << 21]])
        let planned = try f.planned("q")
        #expect(planned.bytesToRead == 4) // its storage, not its shape
        expectNablaError(.tooLarge, ["expand.pt:q", "strided view", "needs"]) { try planned.load() }
        // Within the memory given, the copy is made and right.
        let small = Pickle.proto + Pickle.dict([("q", Pickle.tensor(key: "0", numel: 1, shape: [3, 4], stride: [0, 0]))]) + Pickle.stop
        let g = try TensorFile.open(path: dir.write("small.pt", StoredZip.torch(pickle: small, storages: [("0", leBytes([7]))])))
        #expect(try g.tensor("q").floats() == [Float](repeating: 7, count: 12))
        guard case .torch(let s) = g.content else { Issue.record("not torch"); return }
        #expect(try s.tensor("q", available: (48, "NABLA_MEMORY_LIMIT")).count == 12)
        expectNablaError(.tooLarge, ["small.pt:q", "of NABLA_MEMORY_LIMIT"]) {
            try s.tensor("q", available: (47, "NABLA_MEMORY_LIMIT"))
        }
    }

    @Test("a strided view reads the storage elements it reaches, not the whole storage (then the rest once, for the CRC)")
    func stridedViewsReadTheirSpan() throws {
        let dir = try TempDir()
        let values = (0..<1000).map(Float.init)
        // t = storage[100:].as_strided((3, 2), (10, 2)): elements 100, 102, 110, 112, 120, 122.
        let p = Pickle.proto + Pickle.dict([("t", Pickle.tensor(key: "0", numel: 1000, offset: 100, shape: [3, 2], stride: [10, 2]))]) + Pickle.stop
        let path = try dir.write("v.pt", StoredZip.torch(pickle: p, storages: [("0", leBytes(values))]))
        let f = try TensorFile.open(path: path)
        let planned = try f.planned("t")
        #expect(planned.bytesToRead == 23 * 4) // elements 100...122
        let counter = FileBytes.ReadCounter()
        let got = try FileBytes.$readCounter.withValue(counter) { try planned.load().floats() }
        #expect(got == [100, 102, 110, 112, 120, 122])
        // The span, then the storage's head and tail for its CRC-32; never all 4000 bytes at once.
        #expect(counter.reads.sorted() == [23 * 4, 100 * 4, (1000 - 123) * 4], "reads: \(counter.reads)")
        // Read again from the same open file: the CRC is not checked twice.
        let again = FileBytes.ReadCounter()
        _ = try FileBytes.$readCounter.withValue(again) { try planned.load() }
        #expect(again.reads == [23 * 4])
    }

    @Test("a deflated member declaring 20 MiB from 20 KB (1024:1, numpy's savez_compressed of zeros) is refused before inflating")
    func inflateRatioCap() throws {
        let path = Self.torchFile("bad/ratio_bomb.npz")
        let f = try TensorFile.open(path: path) // listing reads the header only
        #expect(f.listing.map(\.shape) == [[5 << 20]])
        expectNablaError(.malformedFile, ["ratio_bomb.npz:x.npy", "ratio over the 256:1", "np.savez"]) { try f.tensor("x") }
        // A member of ordinary data, compressed, still reads.
        let ok = try TensorFile.open(path: Self.torchFile("arrays_compressed.npz"))
        #expect(try ok.tensor("q").count == 2 * 2 * 8 * 16 * 16)
        // The zip bomb whose headers understate its size stops at the declared size.
        expectNablaError(.malformedFile, ["bomb.npz:x.npy", "inflates past the 168 bytes"]) {
            try TensorFile.open(path: Self.torchFile("bad/bomb.npz"))
        }
    }

    // MARK: - 6. CRC-32 of every member

    /// np.load refuses each of these with "Bad CRC-32 for file 'q.npy'" (checked when
    /// the test was written, numpy 2.4).
    @Test("a flipped data byte in an .npz member, stored or deflated, fails the read of that array in one line; others still read",
          arguments: ["arrays.npz", "arrays_compressed.npz"])
    func npzCRC(_ name: String) throws {
        let dir = try TempDir()
        let bytes = try Fixture.bytes(Self.torchFile(name))
        let path = try dir.write(name, StoredZip.flipped(bytes, member: "q.npy", at: 200))
        let f = try TensorFile.open(path: path) // opening does not read the data
        #expect(f.keys?.contains("q") == true)
        let error = expectNablaError(.malformedFile, ["\(name):q.npy"]) { try f.tensor("q") }
        if name == "arrays.npz" { #expect(error?.message.contains("CRC-32 mismatch") == true) }
        #expect(try f.tensor("k").floats() == TensorFile.open(path: Self.torchFile(name)).tensor("k").floats())
    }

    @Test("a flipped storage byte in a torch.save file fails the tensors on that storage, found when they are read")
    func torchCRC() throws {
        let dir = try TempDir()
        // qk.pt: q and k each on their own storage.
        let qk = try Fixture.bytes(Self.torchFile("qk.pt"))
        let f = try TensorFile.open(path: dir.write("qk.pt", StoredZip.flipped(qk, member: "qk/data/0", at: 100)))
        expectNablaError(.malformedFile, ["qk.pt:qk/data/0", "CRC-32 mismatch", "recorded 0x"]) { try f.tensor("q") }
        #expect(try f.tensor("k").floats() == TensorFile.open(path: Self.torchFile("qk.pt")).tensor("k").floats())
        // model.pt: q and k are views of one qkv storage; a flip in v's third fails both.
        let model = try Fixture.bytes(Self.torchFile("model.pt"))
        let g = try TensorFile.open(path: dir.write("model.pt", StoredZip.flipped(model, member: "model/data/0", at: 3 * 32768 - 5)))
        let keys = try #require(g.keys)
        let first = try #require(keys.first)
        #expect(first.hasSuffix(".q"))
        expectNablaError(.malformedFile, ["model.pt:model/data/0", "CRC-32 mismatch"]) { try g.tensor(first) }
    }

    @Test("the pickle and byteorder members, read whole at open, are CRC-checked there")
    func smallMembersAtOpen() throws {
        let dir = try TempDir()
        let qk = try Fixture.bytes(Self.torchFile("qk.pt"))
        expectNablaError(.malformedFile, ["qk.pt:qk/data.pkl", "CRC-32 mismatch"]) {
            try TensorFile.open(path: dir.write("qk.pt", StoredZip.flipped(qk, member: "qk/data.pkl", at: 40)))
        }
        expectNablaError(.malformedFile, ["qk.pt:qk/byteorder", "CRC-32 mismatch"]) {
            try TensorFile.open(path: dir.write("qk.pt", StoredZip.flipped(qk, member: "qk/byteorder", at: 0)))
        }
    }

    @Test("a GLOBAL is read within 257 bytes: a long or unterminated name is one line")
    func globalNames() {
        let long = [UInt8(ascii: "c")] + [UInt8](repeating: UInt8(ascii: "a"), count: 100_000) + [0x0A, 0x0A, UInt8(ascii: ".")]
        expectNablaError(.malformedFile, ["p.pkl: byte 2", "longer than 256 bytes"]) { try PickleReaderTests.read(Pickle.proto + long) }
        expectNablaError(.malformedFile, ["p.pkl: byte 2", "no newline after GLOBAL"]) {
            try PickleReaderTests.read(Pickle.proto + Array("ctorch\nFloat".utf8))
        }
    }

    @Test("a member with the encrypted flag is reported as encrypted")
    func encryptedMember() throws {
        let dir = try TempDir()
        let p = Pickle.proto + Pickle.dict([("q", Pickle.tensor(key: "0", numel: 1, shape: [1], stride: [1]))]) + Pickle.stop
        let bytes = StoredZip.torch(pickle: p, storages: [("0", leBytes([1]))], flags: ["archive/data/0": 1])
        expectNablaError(.unsupported, ["enc.pt", "archive/data/0", "is encrypted"]) { try TensorFile.open(path: dir.write("enc.pt", bytes)) }
        // The same archive without the flag reads.
        let plain = StoredZip.torch(pickle: p, storages: [("0", leBytes([1]))])
        #expect(try TensorFile.open(path: dir.write("plain.pt", plain)).tensor("q").floats() == [1])
    }
}

/// CRC-32 against independent values: the standard check value, and the CRCs zlib
/// recorded in the fixtures' ZIP directories (numpy's and torch's writers).
@Suite("CRC-32")
struct CRCTests {
    @Test func checkValue() {
        #expect(Array("123456789".utf8).withUnsafeBytes { CRC32.checksum($0) } == 0xCBF4_3926)
        #expect([UInt8]().withUnsafeBytes { CRC32.checksum($0) } == 0)
    }

    @Test("every member of every zip fixture has the CRC its writer recorded", arguments: ["arrays.npz", "arrays_compressed.npz", "qk.pt", "model.pt", "views.pt"])
    func fixtures(_ name: String) throws {
        let path = TorchArchiveTests.file(name)
        let zip = try ZipContainer(path: path, source: FileBytes(path: path))
        for m in zip.members {
            let (bytes, owner) = try zip.bytes(of: m, limit: 1 << 24)
            withExtendedLifetime(owner) {
                #expect(CRC32.checksum(bytes) == m.crc, "\(name):\(m.path)")
                #expect(CRC32.parallelChecksum(bytes, chunk: 1000) == m.crc, "\(name):\(m.path)")
            }
        }
    }

    @Test("combining the CRCs of two parts gives the CRC of the whole, at every split")
    func combine() {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<3000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { all in
            let whole = CRC32.checksum(all)
            for split in [0, 1, 7, 8, 9, 1000, 2999, 3000] {
                let a = CRC32.checksum(UnsafeRawBufferPointer(rebasing: all[..<split]))
                let b = CRC32.checksum(UnsafeRawBufferPointer(rebasing: all[split...]))
                #expect(CRC32.combine(a, b, lengthB: 3000 - split) == whole, "split \(split)")
                #expect(CRC32.checksum(UnsafeRawBufferPointer(rebasing: all[split...]), continuing: a) == whole)
            }
        }
    }
}
