/// A tensor file mapped and validated once: one NPY tensor, or the named tensors and
/// `__metadata__` of a safetensors file.
///
/// The format is decided by content first: the NPY magic means NPY; otherwise a
/// `.safetensors` name or a header that looks like one (a JSON object after the 8-byte
/// length) means safetensors; a `.npy` name without the magic is a malformed NPY.
public struct TensorFile: Sendable {
    public enum Content: Sendable {
        case npy(RawTensor)
        case safetensors(SafetensorsFile)
    }

    public let path: String
    /// Size of the file in bytes.
    public let byteCount: Int
    public let content: Content

    /// Maps and validates the file at `path`.
    /// - Throws: `NablaError.fileUnreadable`, `.malformedFile`, `.unsupported` from the
    ///   readers, or `.unsupported` for a file that is neither format.
    public static func open(path: String) throws -> TensorFile {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        let lower = path.lowercased()
        let npyMagic = bytes.count >= NPY.magic.count && Array(bytes.prefix(NPY.magic.count)) == NPY.magic
        let looksSafetensors = bytes.count >= 9 && bytes[8] == UInt8(ascii: "{")
        if npyMagic || (lower.hasSuffix(".npy") && !lower.hasSuffix(".safetensors")) {
            return TensorFile(path: path, byteCount: bytes.count, content: .npy(try NPY.decode(bytes, name: path, owner: file)))
        }
        guard lower.hasSuffix(".safetensors") || looksSafetensors else {
            throw NablaError(.unsupported, "\(path): neither a .npy file (no \\x93NUMPY magic) nor a .safetensors file")
        }
        return TensorFile(path: path, byteCount: bytes.count,
                          content: .safetensors(try SafetensorsFile.decode(bytes, path: path, owner: file)))
    }

    /// `"npy"` or `"safetensors"`.
    public var format: String {
        switch content {
        case .npy: "npy"
        case .safetensors: "safetensors"
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

    /// The tensor under `key`; without a key, the file's only tensor.
    /// - Throws: `NablaError.missingTensor` for a key the file lacks (listing the keys it
    ///   has), a key on a .npy file, or no key for a file holding several tensors.
    public func tensor(_ key: String?) throws -> RawTensor {
        switch content {
        case .npy(let tensor):
            if let key {
                throw NablaError(.missingTensor, "\(path) is a .npy file holding one tensor; it has no key '\(TensorIO.shown(key))' (write just \(path))")
            }
            return tensor
        case .safetensors(let st):
            if let key { return try st.tensor(key) }
            switch st.tensors.count {
            case 1:
                return st.tensors[0]
            case 0:
                throw NablaError(.missingTensor, "\(path) holds no tensors")
            default:
                throw NablaError(.missingTensor,
                    "\(path) holds \(st.tensors.count) tensors; name one as \(path):KEY (available: \(TensorIO.keyList(st.keys)))")
            }
        }
    }
}
