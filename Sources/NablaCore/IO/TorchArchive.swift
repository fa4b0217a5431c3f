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
/// dimensions) are gathered into a C-order copy when the tensor is asked for (checked
/// against the memory available first: a stride-0 view can name far more elements than
/// its storage holds). Work and memory for the pickle are linear in its size; the limits
/// (`maxPickleSize`, `maxDepth`, `maxTensors`, `maxKeyBytes`, `PickleReader.maxObjects`)
/// are listed in docs/robustness.md.
public struct TorchArchive: @unchecked Sendable {
    /// One tensor in the pickle.
    public struct Entry: Sendable {
        public let key: String
        public let dtype: DType
        public let shape: [Int]
        let ref: PickleReader.TensorRef
        /// The storage elements the view reaches, first to last (`nil` for no elements):
        /// all that is read of a stored storage.
        let span: Range<Int>?
    }

    public let path: String
    /// In the order the pickle lists them.
    public let entries: [Entry]
    public var keys: [String] { entries.map(\.key) }
    private let byKey: [String: Int]
    let zip: ZipContainer
    let prefix: String
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
            guard bo.uncompressedSize <= 16 else {
                throw NablaError(.malformedFile, "\(path): \(prefix)byteorder holds \(bo.uncompressedSize) bytes, expected 'little' or 'big'")
            }
            let (raw, owner) = try zip.bytes(of: bo, limit: 16) // CRC-checked, as every member read whole
            let text = withExtendedLifetime(owner) { String(decoding: raw, as: UTF8.self) }
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
        let found = try withExtendedLifetime(owner) {
            try PickleReader.read(bytes, name: "\(path):\(pickle.path)") { root in
                try Self.collect(root, path: path)
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
                // The product is computed once, checked; the message never recomputes it.
                let (need, overflow) = ref.storage.count.multipliedReportingOverflow(by: ref.storage.dtype.size)
                guard !overflow, member.uncompressedSize >= need else {
                    let needed = overflow ? "more than \(Int.max)" : String(need)
                    throw NablaError(.malformedFile, "\(name): storage \(TensorIO.shown(storageName)) holds \(member.uncompressedSize) bytes, shorter than its \(ref.storage.count) \(ref.storage.dtype) elements (\(needed) bytes)")
                }
                checked[storageName] = need
            }
            let span = try Self.checkBounds(ref, name: name)
            byKey[key] = entries.count
            entries.append(Entry(key: key, dtype: ref.storage.dtype, shape: ref.shape, ref: ref, span: span))
        }
        self.entries = entries
        self.byKey = byKey
    }

    /// The most tensors a file may name, counting a tensor reached along several paths
    /// once per path (as `torch.load` then a walk of the loaded object would meet it).
    static let maxTensors = 1 << 20
    /// The most bytes all those names may take together.
    static let maxKeyBytes = 64 << 20

    /// What the walk learns of one container, once: the tensors below it (one per path),
    /// the bytes of their names relative to it, how deep it nests, and which of its
    /// children lead to tensors.
    private struct Census {
        var tensors = 0
        var keyBytes = 0
        /// 0 for a container holding no containers.
        var height = 0
        /// The children that hold tensors, with the names they give.
        var withTensors: [(name: String, value: PickleReader.Value)] = []
    }

    /// A container's children and the name each gives the path (dict keys that are
    /// neither str nor int name nothing and are skipped).
    private static func children(of c: PickleReader.Container) -> [(name: String, value: PickleReader.Value)] {
        switch c.kind {
        case .dict:
            return c.pairs.compactMap { k, v in
                switch k {
                case .string(let s): (s, v)
                case .int(let i): (String(i), v)
                default: nil
                }
            }
        case .list, .tuple:
            return c.items.enumerated().map { (String($0.offset), $0.element) }
        }
    }

    /// Names each tensor of the unpickled object by its path (`a.list.1.0`), as a
    /// state_dict does; a tensor under several paths (a shared tensor, or a shared dict
    /// holding tensors) is named once per path.
    ///
    /// Two walks: the first visits each container once (by identity) and counts the
    /// tensors and name bytes below it, so a pickle of shared references ("billion
    /// laughs") is refused before any name is made; the second makes the names, going
    /// only where tensors are.
    /// - Throws: `NablaError.malformedFile` for containers nesting deeper than
    ///   `maxDepth` (a container holding itself among them); `.tooLarge` for more than
    ///   `maxTensors` tensors or `maxKeyBytes` of names.
    /// - Complexity: O(containers + container slots) for the first walk, O(names made x
    ///   depth + name bytes) for the second, both bounded by the limits.
    static func collect(_ root: PickleReader.Value, path: String) throws -> [(String, PickleReader.TensorRef)] {
        var census: [ObjectIdentifier: Census] = [:]
        var inProgress: Set<ObjectIdentifier> = []
        var trail: [String] = []

        func tooDeep() -> NablaError {
            NablaError(.malformedFile, "\(path): containers nest deeper than \(maxDepth) levels (at '\(TensorIO.shown(trail.joined(separator: ".")))')")
        }
        func saturating(_ a: Int, _ b: Int) -> Int { a.addingReportingOverflow(b).overflow ? .max : a + b }

        /// (tensors, name bytes, height) of `value`, first met at `depth`.
        func count(_ value: PickleReader.Value, depth: Int) throws -> (tensors: Int, keyBytes: Int, height: Int) {
            let c: PickleReader.Container
            switch value {
            case .tensor: return (1, 0, 0)
            case .dict(let x), .list(let x), .tuple(let x): c = x
            default: return (0, 0, 0)
            }
            guard depth < maxDepth else { throw tooDeep() }
            let id = ObjectIdentifier(c)
            if let known = census[id] {
                guard depth + known.height < maxDepth else { throw tooDeep() }
                return (known.tensors, known.keyBytes, known.height)
            }
            // Met again while its own walk is under way: it holds itself.
            guard inProgress.insert(id).inserted else {
                throw NablaError(.malformedFile, "\(path): a container holds itself (at '\(TensorIO.shown(trail.joined(separator: ".")))'), so containers nest deeper than \(maxDepth) levels")
            }
            var summary = Census()
            for child in children(of: c) {
                trail.append(child.name)
                let (t, k, h) = try count(child.value, depth: depth + 1)
                trail.removeLast()
                summary.height = max(summary.height, h + (child.value.isContainer ? 1 : 0))
                guard t > 0 else { continue }
                summary.withTensors.append(child)
                summary.tensors = saturating(summary.tensors, t)
                // Each of the t names gains this child's name and a '.'.
                let (own, o) = t.multipliedReportingOverflow(by: child.name.utf8.count + 1)
                summary.keyBytes = saturating(saturating(summary.keyBytes, k), o ? .max : own)
            }
            inProgress.remove(id)
            census[id] = summary
            return (summary.tensors, summary.keyBytes, summary.height)
        }

        let (tensors, keyBytes, _) = try count(root, depth: 0)
        guard tensors <= maxTensors else {
            throw NablaError(.tooLarge, "\(path): the pickle names \(tensors == .max ? "too many" : String(tensors)) tensors (counting each path to a shared one), more than nabla's limit of \(maxTensors)")
        }
        guard keyBytes <= maxKeyBytes else {
            throw NablaError(.tooLarge, "\(path): the names of the pickle's \(tensors) tensors (one per path to a shared one) take more than nabla's limit of \(maxKeyBytes) bytes")
        }

        var found: [(String, PickleReader.TensorRef)] = []
        found.reserveCapacity(tensors)
        func name(_ value: PickleReader.Value, key: String?) {
            switch value {
            case .tensor(let ref):
                found.append((key ?? "", ref))
            case .dict(let c), .list(let c), .tuple(let c):
                guard let summary = census[ObjectIdentifier(c)] else { return }
                for (k, child) in summary.withTensors {
                    name(child, key: key.map { $0.isEmpty ? k : "\($0).\(k)" } ?? k)
                }
            default:
                break
            }
        }
        name(root, key: nil)
        return found
    }

    /// Checks that every element of the view lies inside its storage.
    /// - Returns: the storage elements it reaches, `offset...last` (strides are not
    ///   negative), or `nil` when it has no elements.
    static func checkBounds(_ ref: PickleReader.TensorRef, name: String) throws -> Range<Int>? {
        func bad(_ what: String) -> NablaError { NablaError(.malformedFile, "\(name): \(what)") }
        if let d = ref.shape.firstIndex(where: { $0 < 0 }) { throw bad("size \(ref.shape) has negative dimension \(ref.shape[d])") }
        guard ref.offset >= 0 else { throw bad("negative storage offset \(ref.offset)") }
        guard TensorIO.checkedSizes(shape: ref.shape, itemSize: ref.storage.dtype.size) != nil else {
            throw bad("size \(ref.shape) has too many elements")
        }
        if ref.shape.contains(0) { return nil }
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
        return ref.offset..<(last + 1)
    }

    /// The tensor under `key` (`""` for a tensor saved alone).
    /// - Throws: `NablaError.missingTensor` for a key the file lacks (listing those it
    ///   has); `.malformedFile` when its storage cannot be read or fails its CRC-32;
    ///   `.tooLarge` when a strided view's C-order copy needs more memory than
    ///   `available` (`MaskMemory.available()`).
    /// - Complexity: O(elements + storage elements reached): a view contiguous in C
    ///   order reads just its own bytes of a stored storage; other strides read the
    ///   elements from the first they reach to the last and gather a copy (a deflated
    ///   storage is inflated whole). The first read of a storage also reads the rest of
    ///   it through, in chunks, for its CRC-32.
    public func tensor(_ key: String, progress: ReadProgress? = nil,
                       available: (bytes: Int, source: String)? = MaskMemory.available()) throws -> RawTensor {
        let e = try entry(key)
        let ref = e.ref
        let name = key.isEmpty ? path : "\(path):\(key)"
        let size = ref.storage.dtype.size
        let storageName = "\(prefix)data/\(ref.storage.key)"
        guard let member = zip.member(storageName) else { preconditionFailure("checked in init") }
        // init checked count * size, the storage's bytes, and offset + reach < storage
        // count, so no product or sum below can overflow.
        let count = e.shape.reduce(1, *)
        guard count > 0, let span = e.span else {
            return RawTensor(name: name, dtype: e.dtype, shape: e.shape, byteOrder: byteOrder, fortranOrder: false,
                             bytes: UnsafeRawBufferPointer(start: nil, count: 0), owner: nil)
        }
        let contiguous = Self.isCContiguous(shape: ref.shape, strides: ref.strides)
        // A view that repeats elements (stride 0: `expand`) is as small as its storage in
        // the file and as large as its shape here: its copy is checked against memory
        // before anything is read.
        if !contiguous, let available, count * size > available.bytes {
            throw NablaError(.tooLarge, "\(name): this strided view of \(TensorIO.shapeText(e.shape)) \(e.dtype) elements (stored in \(span.count)) needs \(MaskMemory.text(count * size)) gathered, more than the \(MaskMemory.text(available.bytes)) \(available.source == "available" ? "available" : "of \(available.source)")")
        }
        if let stored = member.storedRange {
            // Only the elements the view reaches are read (its own bytes when contiguous,
            // where span.count == count). The CRC-32 covers the whole storage: checked
            // on these bytes and, when they are part of it, the rest read through once
            // (per storage).
            let range = (stored.lowerBound + span.lowerBound * size)..<(stored.lowerBound + span.upperBound * size)
            let (bytes, owner) = try zip.source.bytes(range, progress: progress, tensor: name)
            try zip.checkCRC(of: member, part: bytes, at: range)
            if contiguous {
                return RawTensor(name: name, dtype: e.dtype, shape: e.shape, byteOrder: byteOrder, fortranOrder: false,
                                 bytes: bytes, owner: owner)
            }
            let copy = InflatedBytes(capacity: count * size)
            withExtendedLifetime(owner) {
                copy.gather(from: bytes, elementSize: size, offset: 0, shape: ref.shape, strides: ref.strides)
            }
            return RawTensor(name: name, dtype: e.dtype, shape: e.shape, byteOrder: byteOrder, fortranOrder: false,
                             bytes: copy.bytes, owner: copy)
        }
        // Deflated: the whole storage is inflated (and CRC-checked), then viewed or gathered.
        let (storage, owner) = try zip.bytes(of: member, limit: ref.storage.count * size, progress: progress, tensor: name)
        if contiguous {
            return RawTensor(name: name, dtype: e.dtype, shape: e.shape, byteOrder: byteOrder, fortranOrder: false,
                             bytes: UnsafeRawBufferPointer(rebasing: storage[(span.lowerBound * size)..<(span.upperBound * size)]),
                             owner: owner)
        }
        let copy = InflatedBytes(capacity: count * size)
        copy.gather(from: storage, elementSize: size, offset: ref.offset, shape: ref.shape, strides: ref.strides)
        return RawTensor(name: name, dtype: e.dtype, shape: e.shape, byteOrder: byteOrder, fortranOrder: false,
                         bytes: copy.bytes, owner: copy)
    }

    /// Bytes reading tensor `key` takes from the file: the storage elements it reaches
    /// (its own bytes when contiguous; 0 when the storage is compressed or the key
    /// missing). Checking a storage's CRC-32 may read the rest of it too, once.
    func bytesToRead(_ key: String) -> Int {
        guard let e = try? entry(key), let m = zip.member("\(prefix)data/\(e.ref.storage.key)"), !m.isCompressed else { return 0 }
        return (e.span?.count ?? 0) * e.dtype.size
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
    /// (Products are checked: with a 0 in the shape the other sizes need not fit.)
    static func isCContiguous(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
            if strides[d] != expected { return false }
            let (next, overflow) = expected.multipliedReportingOverflow(by: shape[d])
            if overflow { return false }
            expected = next
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
