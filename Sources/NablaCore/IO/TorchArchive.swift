/// A file written by `torch.save` (the ZIP format of PyTorch 1.6 and later), read
/// without PyTorch and without running anything from it.
///
/// Layout (PyTorch `torch/serialization.py`, `caffe2/serialize/inline_container.cc`): a
/// ZIP archive whose members share one top folder `NAME/`: `NAME/data.pkl`, a pickle of
/// the saved object in which every tensor is `_rebuild_tensor_v2(storage, offset, size,
/// stride, ...)` and every storage a persistent id naming member `NAME/data/KEY`;
/// `NAME/byteorder` (`little` or `big`; absent in older files, meaning little); the
/// storages themselves, stored uncompressed and 64-byte aligned.
///
/// The pickle is read by `PickleReader`, which accepts only tensors, storages, dicts
/// (and `OrderedDict`), lists, tuples and plain values. Tensors nested in containers are
/// named by their path joined with `.` (`blocks.0.q`, `layers.3.1` for a list or tuple
/// element), as a `state_dict` names them; a tensor saved alone has no key.
///
/// A tensor whose elements are contiguous in C order (any storage offset) views the
/// mapped storage in place; other strides (transposes, slices with steps, expanded
/// dimensions) are gathered into a C-order copy when the tensor is asked for.
public struct TorchArchive: @unchecked Sendable {
    /// One tensor in the pickle.
    public struct Entry: Sendable {
        public let key: String
        public let dtype: DType
        public let shape: [Int]
        let ref: PickleReader.TensorRef
    }

    public let path: String
    /// In the order the pickle lists them.
    public let entries: [Entry]
    public var keys: [String] { entries.map(\.key) }
    private let byKey: [String: Int]
    private let zip: ZipContainer
    private let prefix: String
    /// The byte order of every storage (`NAME/byteorder`).
    let byteOrder: ByteOrder

    /// The pickle is read into memory; refuse one larger than this.
    static let maxPickleSize = 256 << 20
    /// Containers nested deeper than this are refused (a self-referencing list would
    /// otherwise never end).
    static let maxDepth = 64

    /// Reads the archive's pickle and checks every tensor against its storage.
    /// - Throws: `NablaError.malformedFile` for a broken archive or pickle, a missing
    ///   storage member, or a tensor that reaches past its storage; `.unsupported` for a
    ///   pickle that asks for anything but tensors in plain containers.
    init(zip: ZipContainer) throws {
        let path = zip.path
        self.path = path
        self.zip = zip
        let pickles = zip.members.filter { $0.path.hasSuffix("/data.pkl") && $0.path.dropLast(9).firstIndex(of: "/") == nil }
        guard pickles.count == 1, let pickle = pickles.first else {
            throw NablaError(.malformedFile, pickles.isEmpty
                ? "\(path): a ZIP archive without NAME/data.pkl, so not a torch.save file"
                : "\(path): \(pickles.count) NAME/data.pkl members; a torch.save file has one")
        }
        prefix = String(pickle.path.dropLast("data.pkl".count))
        if let bo = zip.member(prefix + "byteorder") {
            let text = String(decoding: try zip.prefix(of: bo, count: 16), as: UTF8.self)
            switch text {
            case "little": byteOrder = .little
            case "big": byteOrder = .big
            default: throw NablaError(.malformedFile, "\(path): \(prefix)byteorder is '\(TensorIO.shown(text))', expected little or big")
            }
        } else {
            byteOrder = .little
        }
        // The pickle's bytes are owned by `owner`: keep it alive while they are read.
        let (bytes, owner) = try zip.bytes(of: pickle, limit: Self.maxPickleSize)
        var found: [(String, PickleReader.TensorRef)] = []
        try withExtendedLifetime(owner) {
            try PickleReader.read(bytes, name: "\(path):\(pickle.path)") { root in
                try Self.collect(root, key: nil, depth: 0, into: &found, path: path)
            }
        }
        var entries: [Entry] = []
        var byKey: [String: Int] = [:]
        var checked: [String: Int] = [:]
        for (key, ref) in found {
            guard byKey[key] == nil else {
                throw NablaError(.malformedFile, "\(path): two tensors are both named '\(TensorIO.shown(key))'")
            }
            let name = key.isEmpty ? path : "\(path):\(TensorIO.shown(key))"
            let storageName = "\(prefix)data/\(ref.storage.key)"
            guard let member = zip.member(storageName) else {
                throw NablaError(.malformedFile, "\(name): storage member \(TensorIO.shown(storageName)) is missing from the archive")
            }
            if checked[storageName] == nil {
                let (need, overflow) = ref.storage.count.multipliedReportingOverflow(by: ref.storage.dtype.size)
                guard !overflow, member.uncompressedSize >= need else {
                    throw NablaError(.malformedFile, "\(name): storage \(TensorIO.shown(storageName)) holds \(member.uncompressedSize) bytes, shorter than its \(ref.storage.count) \(ref.storage.dtype) elements (\(ref.storage.count * ref.storage.dtype.size) bytes)")
                }
                checked[storageName] = need
            }
            try Self.checkBounds(ref, name: name)
            byKey[key] = entries.count
            entries.append(Entry(key: key, dtype: ref.storage.dtype, shape: ref.shape, ref: ref))
        }
        self.entries = entries
        self.byKey = byKey
    }

    /// Walks the unpickled object, naming each tensor by its path.
    private static func collect(_ value: PickleReader.Value, key: String?, depth: Int,
                                into found: inout [(String, PickleReader.TensorRef)], path: String) throws {
        guard depth <= maxDepth else {
            throw NablaError(.malformedFile, "\(path): containers nest deeper than \(maxDepth) levels (at '\(TensorIO.shown(key ?? ""))')")
        }
        func child(_ k: String) -> String { key.map { $0.isEmpty ? k : "\($0).\(k)" } ?? k }
        switch value {
        case .tensor(let ref):
            found.append((key ?? "", ref))
        case .dict(let d):
            for (k, v) in d.pairs {
                let name: String
                switch k {
                case .string(let s): name = s
                case .int(let i): name = String(i)
                default: continue
                }
                try collect(v, key: child(name), depth: depth + 1, into: &found, path: path)
            }
        case .list(let l):
            for (i, v) in l.items.enumerated() { try collect(v, key: child(String(i)), depth: depth + 1, into: &found, path: path) }
        case .tuple(let t):
            for (i, v) in t.enumerated() { try collect(v, key: child(String(i)), depth: depth + 1, into: &found, path: path) }
        case .none, .bool, .int, .float, .string, .global, .storage:
            break // plain values beside the tensors (a step number, a name) are not tensors
        }
    }

    /// Checks that every element of the view lies inside its storage.
    private static func checkBounds(_ ref: PickleReader.TensorRef, name: String) throws {
        func bad(_ what: String) -> NablaError { NablaError(.malformedFile, "\(name): \(what)") }
        if let d = ref.shape.firstIndex(where: { $0 < 0 }) { throw bad("size \(ref.shape) has negative dimension \(ref.shape[d])") }
        guard ref.offset >= 0 else { throw bad("negative storage offset \(ref.offset)") }
        guard TensorIO.checkedSizes(shape: ref.shape, itemSize: ref.storage.dtype.size) != nil else {
            throw bad("size \(ref.shape) has too many elements")
        }
        if ref.shape.contains(0) { return }
        if let d = ref.strides.firstIndex(where: { $0 < 0 }) { throw bad("stride \(ref.strides) has negative entry \(ref.strides[d])") }
        var last = ref.offset
        for (n, s) in Swift.zip(ref.shape, ref.strides) {
            let (reach, o1) = (n - 1).multipliedReportingOverflow(by: s)
            let (sum, o2) = last.addingReportingOverflow(reach)
            guard !o1, !o2 else { throw bad("size \(ref.shape) and stride \(ref.strides) overflow") }
            last = sum
        }
        guard last < ref.storage.count else {
            throw bad("size \(ref.shape), stride \(ref.strides) and offset \(ref.offset) reach element \(last), past the end of its storage of \(ref.storage.count) elements")
        }
    }

    /// The tensor under `key` (`""` for a tensor saved alone).
    /// - Throws: `NablaError.missingTensor` for a key the file lacks (listing those it
    ///   has); `.malformedFile` when its storage cannot be read.
    /// - Complexity: O(elements): a view contiguous in C order reads just its own bytes
    ///   of the stored storage; other strides read the storage and gather a copy.
    public func tensor(_ key: String, progress: ReadProgress? = nil) throws -> RawTensor {
        let e = try entry(key)
        let ref = e.ref
        let name = key.isEmpty ? path : "\(path):\(key)"
        let size = ref.storage.dtype.size
        let storageName = "\(prefix)data/\(ref.storage.key)"
        guard let member = zip.member(storageName) else { preconditionFailure("checked in init") }
        let count = e.shape.reduce(1, *)
        let contiguous = count == 0 || Self.isCContiguous(shape: ref.shape, strides: ref.strides)
        if contiguous, count > 0, let stored = member.storedRange {
            // Within the storage (checked in init): read only this tensor's bytes.
            let start = stored.lowerBound + ref.offset * size
            let (bytes, owner) = try zip.source.bytes(start..<(start + count * size), progress: progress, tensor: name)
            return RawTensor(name: name, dtype: e.dtype, shape: e.shape, byteOrder: byteOrder, fortranOrder: false,
                             bytes: bytes, owner: owner)
        }
        let (storage, owner) = try zip.bytes(of: member, limit: ref.storage.count * size, progress: progress, tensor: name)
        if contiguous {
            let start = ref.offset * size
            let bytes = count == 0 ? UnsafeRawBufferPointer(start: nil, count: 0)
                : UnsafeRawBufferPointer(rebasing: storage[start..<start + count * size])
            return RawTensor(name: name, dtype: e.dtype, shape: e.shape, byteOrder: byteOrder, fortranOrder: false,
                             bytes: bytes, owner: owner)
        }
        let copy = InflatedBytes(capacity: count * size)
        copy.gather(from: storage, elementSize: size, offset: ref.offset, shape: ref.shape, strides: ref.strides)
        return RawTensor(name: name, dtype: e.dtype, shape: e.shape, byteOrder: byteOrder, fortranOrder: false,
                         bytes: copy.bytes, owner: copy)
    }

    /// Bytes reading tensor `key` takes from the file: its own bytes when contiguous,
    /// else its whole storage (0 when the storage is compressed or the key missing).
    func bytesToRead(_ key: String) -> Int {
        guard let e = try? entry(key), let m = zip.member("\(prefix)data/\(e.ref.storage.key)"), !m.isCompressed else { return 0 }
        let count = e.shape.reduce(1, *)
        return Self.isCContiguous(shape: e.ref.shape, strides: e.ref.strides) ? count * e.dtype.size : m.uncompressedSize
    }

    /// The entry under `key`.
    /// - Throws: `NablaError.missingTensor` for a key the file lacks (listing those it has).
    func entry(_ key: String) throws -> Entry {
        guard let i = byKey[key] else {
            throw NablaError(.missingTensor, "\(path) has no tensor '\(TensorIO.shown(key))' (available: \(TensorIO.keyList(keys)))")
        }
        return entries[i]
    }

    /// `true` when a view with these strides lists its elements in C order without gaps.
    static func isCContiguous(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
            if strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }
}

extension InflatedBytes {
    /// Appends the elements of a strided view of `storage` in C order.
    /// - Complexity: O(elements).
    func gather(from storage: UnsafeRawBufferPointer, elementSize size: Int, offset: Int, shape: [Int], strides: [Int]) {
        let count = shape.reduce(1, *)
        fill(byteCount: count * size) { dst in
            TensorIO.forEachStrided(shape: shape, strides: strides, offset: offset) { logical, at in
                (dst.baseAddress! + logical * size).copyMemory(from: storage.baseAddress! + at * size, byteCount: size)
            }
        }
    }
}

extension TensorIO {
    /// Calls `body(logical, storage)` for every element of a view of `shape` with
    /// element `strides` starting at element `offset`: `logical` counts in C order,
    /// `storage` is the element's index in the underlying buffer (an odometer over the
    /// dimensions, last fastest).
    /// - Complexity: O(elements).
    static func forEachStrided(shape: [Int], strides: [Int], offset: Int, _ body: (Int, Int) -> Void) {
        let rank = shape.count
        let count = shape.reduce(1, *)
        var idx = [Int](repeating: 0, count: rank)
        var at = offset
        for logical in 0..<count {
            body(logical, at)
            var d = rank - 1
            while d >= 0 {
                idx[d] += 1
                at += strides[d]
                if idx[d] < shape[d] { break }
                at -= strides[d] * idx[d]
                idx[d] = 0
                d -= 1
            }
        }
    }
}
