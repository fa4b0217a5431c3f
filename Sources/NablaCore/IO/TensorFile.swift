/// A tensor file opened and its header validated once: one NPY tensor, or the named
/// tensors and `__metadata__` of a safetensors file. Tensors' data is read when chosen
/// (`tensor(_:)`), into memory nabla owns (`FileBytes`).
///
/// The format is decided by content first: the NPY magic means NPY; otherwise a
/// `.safetensors` name or a header that looks like one (a JSON object after the 8-byte
/// length) means safetensors; a `.npy` name without the magic is a malformed NPY.
public struct TensorFile: Sendable {
    public enum Content: Sendable {
        case npy(TensorEntry)
        case safetensors(SafetensorsFile)
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

    /// Validates the header of the file in `source`.
    /// - Throws: as `open(path:)`.
    public static func open(_ source: ByteSource) throws -> TensorFile {
        let path = source.path
        let (head, owner) = try source.bytes(0..<min(source.size, 9))
        let lower = path.lowercased()
        let npyMagic = head.count >= NPY.magic.count && Array(head.prefix(NPY.magic.count)) == NPY.magic
        let looksSafetensors = head.count >= 9 && head[8] == UInt8(ascii: "{")
        withExtendedLifetime(owner) {}
        if npyMagic || (lower.hasSuffix(".npy") && !lower.hasSuffix(".safetensors")) {
            return TensorFile(path: path, byteCount: source.size, content: .npy(try NPY.entry(in: source)), source: source)
        }
        guard lower.hasSuffix(".safetensors") || looksSafetensors else {
            throw NablaError(.unsupported, "\(path): neither a .npy file (no \\x93NUMPY magic) nor a .safetensors file")
        }
        return TensorFile(path: path, byteCount: source.size, content: .safetensors(try SafetensorsFile.decode(source)), source: source)
    }

    /// `"npy"` or `"safetensors"`.
    public var format: String {
        switch content {
        case .npy: "npy"
        case .safetensors: "safetensors"
        }
    }

    /// Every tensor the file lists, in file order (including dtypes nabla does not read).
    public var entries: [TensorEntry] {
        switch content {
        case .npy(let entry): [entry]
        case .safetensors(let st): st.entries
        }
    }

    /// The safetensors file's keys in file order; `nil` for a .npy file.
    public var keys: [String]? {
        if case .safetensors(let st) = content { return st.keys }
        return nil
    }

    /// The safetensors file's `__metadata__`; empty for a .npy file.
    public var metadata: [String: String] {
        if case .safetensors(let st) = content { return st.metadata }
        return [:]
    }

    /// The entry under `key`; without a key, the file's only tensor (the only one of a
    /// dtype nabla reads, when others are listed that it does not).
    /// - Throws: `NablaError.missingTensor` for a key the file lacks (listing the keys it
    ///   has), a key on a .npy file, or no key for a file holding several tensors.
    public func entry(_ key: String?) throws -> TensorEntry {
        switch content {
        case .npy(let entry):
            if let key {
                throw NablaError(.missingTensor, "\(path) is a .npy file holding one tensor; it has no key '\(TensorIO.shown(key))' (write just \(path))")
            }
            return entry
        case .safetensors(let st):
            if let key { return try st.entry(key) }
            if st.entries.count == 1 { return st.entries[0] }
            let readable = st.entries.filter { $0.dtype != nil }
            if readable.count == 1 { return readable[0] }
            if st.entries.isEmpty { throw NablaError(.missingTensor, "\(path) holds no tensors") }
            throw NablaError(.missingTensor,
                "\(path) holds \(st.entries.count) tensors; name one as \(path):KEY (available: \(TensorIO.keyList(st.keys)))")
        }
    }

    /// Reads the tensor under `key` (see `entry(_:)`).
    /// - Throws: as `entry(_:)`; `.unsupported` for a dtype nabla does not read;
    ///   `.fileUnreadable` when the file cannot be read or changed on disk.
    public func tensor(_ key: String?) throws -> RawTensor {
        try entry(key).load(from: source)
    }
}
