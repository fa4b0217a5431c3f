/// A tensor as a file's header describes it: name, dtype, shape and where its bytes lie.
/// Reading the header gives entries; `load(from:)` reads one tensor's bytes.
public struct TensorEntry: Sendable, Equatable {
    /// The safetensors key; `nil` for a .npy file.
    public let key: String?
    /// The file's path as given.
    public let file: String
    /// How the tensor is named in messages: `q.npy` or `qk.safetensors:q` (made when
    /// asked, so a header of 100,000 tensors does not hold 100,000 more strings).
    public var name: String { key.map { "\(file):\(Shown.path($0))" } ?? file }
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
        try planned(from: source).load()
    }

    /// The tensor (or its slice at `index` on the leading axes, `t[i, j]`) as a plan
    /// holds it: checked now, read by `load`. A slice of a C-order tensor reads only its
    /// own bytes; of a Fortran-order one, the whole tensor, then gathers.
    /// - Throws: `NablaError.unsupported` for a dtype nabla does not read, naming the
    ///   tensor and its dtype; `.badShape` for an index out of range.
    public func planned(from source: ByteSource, index: [Int] = []) throws -> PlannedTensor {
        guard let dtype else {
            throw NablaError(.unsupported,
                "\(name) has dtype \(TensorIO.shown(dtypeName)), which nabla does not read (it reads \(DType.allCases.map(\.safetensorsName).joined(separator: " ")))")
        }
        let whole = { @Sendable [self] (progress: ReadProgress?, name: String) throws -> RawTensor in
            let (bytes, owner) = try source.bytes(offset..<(offset + byteCount), progress: progress, tensor: name)
            return RawTensor(name: self.name, dtype: dtype, shape: self.shape, byteOrder: self.byteOrder,
                             fortranOrder: self.fortranOrder, bytes: bytes, owner: owner)
        }
        if index.isEmpty {
            return PlannedTensor(name: name, dtype: dtype, shape: shape, byteOrder: byteOrder, fortranOrder: fortranOrder,
                                 bytesToRead: byteCount, region: .seekable(source, offset: offset)) { progress in try whole(progress, name) }
        }
        let (sliceName, inner, flat) = try TensorIO.leading(index, name: name, shape: shape)
        let fortran = fortranOrder && shape.filter { $0 > 1 }.count > 1
        if fortran {
            return PlannedTensor(name: sliceName, dtype: dtype, shape: inner, byteOrder: byteOrder, fortranOrder: false,
                                 bytesToRead: byteCount) { progress in try whole(progress, sliceName).leading(index) }
        }
        let sliceBytes = inner.reduce(1, *) * dtype.size
        let start = offset + flat * sliceBytes
        let order = byteOrder
        return PlannedTensor(name: sliceName, dtype: dtype, shape: inner, byteOrder: byteOrder, fortranOrder: false,
                             bytesToRead: sliceBytes, region: .seekable(source, offset: start)) { progress in
            let (bytes, owner) = try source.bytes(start..<(start + sliceBytes), progress: progress, tensor: sliceName)
            return RawTensor(name: sliceName, dtype: dtype, shape: inner, byteOrder: order, fortranOrder: false,
                             bytes: bytes, owner: owner)
        }
    }
}
