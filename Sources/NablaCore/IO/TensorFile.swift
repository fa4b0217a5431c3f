/// A tensor file opened and its header validated once (tensors' data is read when
/// chosen, into memory nabla owns, never mapped): one NPY tensor, the named tensors and
/// `__metadata__` of a safetensors file, the tensors of a `torch.save` file, or the
/// arrays of an `.npz` archive.
///
/// The format is decided by content first: the NPY magic means NPY; a ZIP archive is an
/// `.npz` when its name ends in `.npz` or every member is a `.npy`, otherwise a
/// `torch.save` file (which must hold `NAME/data.pkl`); a pickle or tar file named
/// `.pt`/`.pth`/`.bin` is the legacy torch format (refused, with how to re-save it);
/// otherwise a `.safetensors` name or a header that looks like one (a JSON object after
/// the 8-byte length) means safetensors; a `.npy` name without the magic is a
/// malformed NPY.
public struct TensorFile: Sendable {
    public enum Content: Sendable {
        case npy(TensorEntry)
        case safetensors(SafetensorsFile)
        case torch(TorchArchive)
        case npz(NPZArchive)
    }

    /// A tensor's key, dtype and shape, known before its values are read.
    public struct Listing: Sendable, Equatable {
        /// `nil` for a .npy file or a tensor saved alone with `torch.save`.
        public let key: String?
        /// `nil` for a dtype nabla does not read (listed, refused only when chosen).
        public let dtype: DType?
        /// The dtype as nabla names it, or as the file does when nabla does not read it
        /// (`F8_E4M3`).
        public let dtypeName: String
        public let shape: [Int]

        public init(key: String?, dtype: DType?, dtypeName: String? = nil, shape: [Int]) {
            self.key = key
            self.dtype = dtype
            self.dtypeName = dtype?.rawValue ?? dtypeName ?? "unknown"
            self.shape = shape
        }
    }

    public let path: String
    /// Size of the file in bytes.
    public let byteCount: Int
    public let content: Content
    /// Where the tensors' bytes are read from.
    public let source: ByteSource

    /// Opens the file at `path` and validates its header.
    /// - Throws: `NablaError.fileUnreadable`, `.malformedFile`, `.unsupported` from the
    ///   readers, or `.unsupported` for a file that is neither format.
    public static func open(path: String) throws -> TensorFile {
        try open(FileBytes(path: path))
    }

    /// Opens the file `source` reads (a file, or bytes in memory: the fuzz targets) and
    /// validates its header; an archive (`.npz`, `torch.save`) is opened again by its
    /// path (ZIPFoundation reads the file itself).
    /// - Throws: as `open(path:)`.
    static func open(_ source: ByteSource) throws -> TensorFile {
        // The first bytes decide the format (262 covers the tar magic).
        let (bytes, owner) = try source.bytes(0..<min(source.size, 262))
        return try withExtendedLifetime(owner) { try open(source, head: bytes) }
    }

    private static func open(_ source: ByteSource, head bytes: UnsafeRawBufferPointer) throws -> TensorFile {
        let path = source.path
        let lower = path.lowercased()
        let npyMagic = bytes.count >= NPY.magic.count && Array(bytes.prefix(NPY.magic.count)) == NPY.magic
        let looksSafetensors = bytes.count >= 9 && bytes[8] == UInt8(ascii: "{")
        let zipMagic = bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && (bytes[2] == 3 || bytes[2] == 5)
        if zipMagic && !npyMagic {
            let zip = try ZipContainer(path: path, source: source)
            let isNPZ = lower.hasSuffix(".npz")
                || (!zip.members.isEmpty && zip.members.allSatisfy { $0.path.hasSuffix(".npy") })
            return TensorFile(path: path, byteCount: source.size,
                              content: isNPZ ? .npz(try NPZArchive(zip: zip)) : .torch(try TorchArchive(zip: zip)), source: source)
        }
        let torchName = [".pt", ".pth", ".bin", ".ckpt"].contains { lower.hasSuffix($0) }
        let pickleMagic = bytes.count >= 2 && bytes[0] == 0x80 && (2...5).contains(bytes[1])
        let tarMagic = bytes.count >= 262 && Array(bytes[257..<262]) == Array("ustar".utf8)
        if !npyMagic && (torchName && (pickleMagic || tarMagic) || lower.hasSuffix(".npz")) {
            throw NablaError(.unsupported, lower.hasSuffix(".npz")
                ? "\(path): not a ZIP archive, so not an .npz file"
                : "\(path): legacy torch.save format (PyTorch before 1.6, or _use_new_zipfile_serialization=False), which nabla does not read; re-save it with a current PyTorch: torch.save(torch.load(PATH, weights_only=True), NEW_PATH)")
        }
        if torchName && !looksSafetensors && !npyMagic {
            throw NablaError(.unsupported, "\(path): not a torch.save file (no ZIP signature at the start)")
        }
        if npyMagic || (lower.hasSuffix(".npy") && !lower.hasSuffix(".safetensors")) {
            return TensorFile(path: path, byteCount: source.size, content: .npy(try NPY.entry(in: source)), source: source)
        }
        guard lower.hasSuffix(".safetensors") || looksSafetensors else {
            throw NablaError(.unsupported, "\(path): neither a .npy file (no \\x93NUMPY magic) nor a .safetensors file, an .npz or a torch.save archive")
        }
        return TensorFile(path: path, byteCount: source.size, content: .safetensors(try SafetensorsFile.decode(source)), source: source)
    }

    /// `"npy"`, `"safetensors"`, `"torch"` or `"npz"`.
    public var format: String {
        switch content {
        case .npy: "npy"
        case .safetensors: "safetensors"
        case .torch: "torch"
        case .npz: "npz"
        }
    }

    /// The keys in file order (a tensor saved alone with `torch.save` has key `""`);
    /// `nil` for a .npy file.
    public var keys: [String]? {
        switch content {
        case .npy: nil
        case .safetensors(let st): st.keys
        case .torch(let t): t.keys
        case .npz(let z): z.keys
        }
    }

    /// Every tensor's key, dtype and shape, in file order, without reading values.
    public var listing: [Listing] {
        switch content {
        case .npy(let e): [Listing(key: nil, dtype: e.dtype, dtypeName: e.dtypeName, shape: e.shape)]
        case .safetensors(let st): st.entries.map { Listing(key: $0.key, dtype: $0.dtype, dtypeName: $0.dtypeName, shape: $0.shape) }
        case .torch(let t): t.entries.map { Listing(key: $0.key.isEmpty ? nil : $0.key, dtype: $0.dtype, shape: $0.shape) }
        case .npz(let z): z.entries.map { Listing(key: $0.key, dtype: $0.dtype, shape: $0.shape) }
        }
    }

    /// The safetensors file's `__metadata__`; empty for a .npy file.
    public var metadata: [String: String] {
        if case .safetensors(let st) = content { return st.metadata }
        return [:]
    }

    /// The tensor under `key`; without a key, the file's only tensor (for safetensors,
    /// the only one of a dtype nabla reads when others are listed that it does not).
    /// The data is read now (`FileBytes`).
    /// - Throws: as `planned(_:index:)`; `.fileUnreadable` when the file cannot be read
    ///   or changed on disk.
    public func tensor(_ key: String?) throws -> RawTensor {
        try planned(key).load()
    }

    /// The tensor under `key` (as `tensor(_:)` chooses it), or its slice at `index` on
    /// the leading axes, checked from the header alone; its data is read by `load`
    /// (from the file; a deflated `.npz` member is inflated then).
    /// - Throws: `NablaError.missingTensor` for a key the file lacks (listing the keys it
    ///   has), a key on a .npy file, or no key for a file holding several tensors;
    ///   `.unsupported` for a dtype nabla does not read; `.badShape` for an index out of
    ///   range.
    public func planned(_ key: String?, index: [Int] = []) throws -> PlannedTensor {
        switch content {
        case .npy(let entry):
            if let key {
                throw NablaError(.missingTensor, "\(path) is a .npy file holding one tensor; it has no key '\(TensorIO.shown(key))' (write just \(path))")
            }
            return try entry.planned(from: source, index: index)
        case .safetensors(let st):
            if let key { return try st.entry(key).planned(from: source, index: index) }
            let readable = st.readableKeys
            let only = try st.keys.count != 1 && readable.count == 1 ? readable[0] : onlyKey(st.keys)
            return try st.entry(only).planned(from: source, index: index)
        case .torch(let t):
            let key = try key ?? onlyKey(t.keys)
            let e = try t.entry(key)
            return try Self.inArchive(name: key.isEmpty ? path : "\(path):\(Shown.path(key))", dtype: e.dtype, shape: e.shape,
                                      byteOrder: t.byteOrder, fortranOrder: false, index: index,
                                      bytesToRead: t.bytesToRead(key), region: t.region(key)) { try t.tensor(key, progress: $0) }
        case .npz(let z):
            let key = try key ?? onlyKey(z.keys)
            let e = try z.entry(key)
            return try Self.inArchive(name: "\(path):\(Shown.path(key))", dtype: e.dtype, shape: e.shape, byteOrder: e.byteOrder,
                                      fortranOrder: e.fortranOrder, index: index,
                                      bytesToRead: z.bytesToRead(key), region: z.region(key)) { try z.tensor(key, progress: $0) }
        }
    }

    /// A tensor of an archive (read, or inflated, by `tensor`), or its slice at `index`.
    private static func inArchive(name: String, dtype: DType, shape: [Int], byteOrder: ByteOrder, fortranOrder: Bool,
                                  index: [Int], bytesToRead: Int, region: TensorRegion?,
                                  _ tensor: @escaping @Sendable (ReadProgress?) throws -> RawTensor) throws -> PlannedTensor {
        var (name, shape, fortranOrder, region) = (name, shape, fortranOrder, region)
        if !index.isEmpty {
            let flat: Int
            let whole = fortranOrder && shape.filter { $0 > 1 }.count > 1
            (name, shape, flat) = try TensorIO.leading(index, name: name, shape: shape)
            // A C-order slice is a run of the tensor's bytes; a Fortran-order one is not.
            region = whole ? nil : region?.dropping(flat * shape.reduce(1, *) * dtype.size)
            fortranOrder = false
        }
        let shown = name
        return PlannedTensor(name: name, dtype: dtype, shape: shape, byteOrder: byteOrder, fortranOrder: fortranOrder,
                             bytesToRead: bytesToRead, region: region) { progress in
            if progress?.shouldStop == true { throw ReadProgress.cancelled(shown) }
            return try tensor(progress).leading(index)
        }
    }

    /// The one key of a file holding one tensor.
    /// - Throws: `NablaError.missingTensor` when it holds none or several.
    private func onlyKey(_ keys: [String]) throws -> String {
        switch keys.count {
        case 1:
            return keys[0]
        case 0:
            throw NablaError(.missingTensor, "\(path) holds no tensors")
        default:
            throw NablaError(.missingTensor,
                "\(path) holds \(keys.count) tensors; name one as \(path):KEY (available: \(TensorIO.keyList(keys)))")
        }
    }
}
