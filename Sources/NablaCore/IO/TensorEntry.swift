/// A tensor as a file's header describes it: name, dtype, shape and where its bytes lie.
/// Reading the header gives entries; `load(from:)` reads one tensor's bytes.
public struct TensorEntry: Sendable, Equatable {
    /// The safetensors key; `nil` for a .npy file.
    public let key: String?
    /// The file's path as given.
    public let file: String
    /// How the tensor is named in messages: `q.npy` or `qk.safetensors:q` (made when
    /// asked, so a header of 100,000 tensors does not hold 100,000 more strings).
    public var name: String { key.map { "\(file):\($0)" } ?? file }
    /// The dtype as the file names it (`F32`, `F8_E4M3`, `<f4`).
    public let dtypeName: String
    /// The dtype, or `nil` for one nabla does not read (listed, refused only when chosen).
    public let dtype: DType?
    public let shape: [Int]
    public let byteOrder: ByteOrder
    public let fortranOrder: Bool
    /// Byte offset of the data in the file, and its length.
    public let offset: Int
    public let byteCount: Int

    public init(key: String?, file: String, dtypeName: String, dtype: DType?, shape: [Int], byteOrder: ByteOrder,
                fortranOrder: Bool, offset: Int, byteCount: Int) {
        self.key = key
        self.file = file
        self.dtypeName = dtypeName
        self.dtype = dtype
        self.shape = shape
        self.byteOrder = byteOrder
        self.fortranOrder = fortranOrder
        self.offset = offset
        self.byteCount = byteCount
    }

    /// Reads the tensor's bytes from `source` (the file the entry came from).
    /// - Throws: `NablaError.unsupported` for a dtype nabla does not read, naming the
    ///   tensor and its dtype; `.fileUnreadable` when the file cannot be read or changed.
    /// - Complexity: O(byteCount), one copy.
    public func load(from source: ByteSource) throws -> RawTensor {
        guard let dtype else {
            throw NablaError(.unsupported,
                "\(name) has dtype \(TensorIO.shown(dtypeName)), which nabla does not read (it reads \(DType.allCases.map(\.safetensorsName).joined(separator: " ")))")
        }
        let (bytes, owner) = try source.bytes(offset..<(offset + byteCount))
        return RawTensor(name: name, dtype: dtype, shape: shape, byteOrder: byteOrder, fortranOrder: fortranOrder,
                         bytes: bytes, owner: owner)
    }
}
