/// A NumPy `.npz` archive (`np.savez`, `np.savez_compressed`): a ZIP archive of `.npy`
/// members, one per array, `NAME.npy` holding the array saved as `NAME`
/// (NumPy `numpy/lib/_npyio_impl.py`). Tensors are chosen as `FILE.npz:NAME`.
///
/// Stored members are validated and viewed in the mapped file, as a `.npy` file is;
/// deflated members are inflated when their tensor is asked for, bounded by the size
/// their own NPY header needs.
public struct NPZArchive: @unchecked Sendable {
    /// One array: its name (the member's without `.npy`), dtype and shape, read from
    /// the member's NPY header.
    public struct Entry: Sendable {
        public let key: String
        public let dtype: DType
        public let shape: [Int]
        let byteOrder: ByteOrder
        let fortranOrder: Bool
        /// Header plus data bytes, what the member must hold.
        let byteCount: Int
        let member: Int
    }

    public let path: String
    public let entries: [Entry]
    public var keys: [String] { entries.map(\.key) }
    private let byKey: [String: Int]
    let zip: ZipContainer

    /// Reads every member's NPY header.
    /// - Throws: `NablaError.malformedFile` for a member that is not `NAME.npy` or whose
    ///   header is broken or disagrees with the member's size; `.unsupported` as `NPY`.
    init(zip: ZipContainer) throws {
        path = zip.path
        self.zip = zip
        var entries: [Entry] = []
        var byKey: [String: Int] = [:]
        for (i, m) in zip.members.enumerated() {
            let name = "\(path):\(TensorIO.shown(m.path))"
            guard m.path.hasSuffix(".npy") else {
                throw NablaError(.malformedFile, "\(name): member is not a .npy array (an .npz holds only NAME.npy members)")
            }
            let key = String(m.path.dropLast(4))
            let head = try zip.prefix(of: m, count: 12)
            let headerEnd: Int
            if head.count >= 12, Array(head.prefix(6)) == NPY.magic {
                headerEnd = head[6] == 1 ? 10 + (Int(head[8]) | Int(head[9]) << 8)
                    : 12 + (Int(head[8]) | Int(head[9]) << 8 | Int(head[10]) << 16 | Int(head[11]) << 24)
            } else {
                headerEnd = 12
            }
            guard headerEnd <= NPY.maxHeaderLength + 12 else {
                throw NablaError(.malformedFile, "\(name): NPY header length \(headerEnd) exceeds the \(NPY.maxHeaderLength)-byte limit")
            }
            let prefix = try zip.prefix(of: m, count: headerEnd)
            let (header, dataBytes) = try NPY.decodeHeader(prefix, name: "\(path):\(key)")
            let (dtype, shape) = (header.dtype, header.shape)
            let (total, overflow) = headerEnd.addingReportingOverflow(dataBytes)
            guard !overflow, m.uncompressedSize == total else {
                throw NablaError(.malformedFile, "\(name): member holds \(m.uncompressedSize) bytes, but its header and shape \(shape) of \(dtype) need \(overflow ? "more than \(Int.max)" : String(total))")
            }
            byKey[key] = entries.count
            entries.append(Entry(key: key, dtype: dtype, shape: shape, byteOrder: header.byteOrder,
                                 fortranOrder: header.fortranOrder, byteCount: total, member: i))
        }
        self.entries = entries
        self.byKey = byKey
    }

    /// The array saved as `key`.
    /// - Throws: `NablaError.missingTensor` for a name the archive lacks (listing those
    ///   it has); `.malformedFile` when the member cannot be inflated within its size.
    /// - Complexity: O(1) for a stored member; O(bytes) to inflate a deflated one.
    public func tensor(_ key: String, progress: ReadProgress? = nil) throws -> RawTensor {
        let e = try entry(key)
        let (bytes, owner) = try zip.bytes(of: zip.members[e.member], limit: e.byteCount, progress: progress,
                                           tensor: "\(path):\(key)")
        return try NPY.decode(bytes, name: "\(path):\(key)", owner: owner)
    }

    /// Bytes reading array `key` takes from the file: its member when stored (0 for a
    /// name the archive lacks).
    func bytesToRead(_ key: String) -> Int {
        guard let e = try? entry(key), !zip.members[e.member].isCompressed else { return 0 }
        return e.byteCount
    }

    /// The entry saved as `key`.
    /// - Throws: `NablaError.missingTensor` for a name the archive lacks (listing those it has).
    func entry(_ key: String) throws -> Entry {
        guard let i = byKey[key] else {
            throw NablaError(.missingTensor, "\(path) has no array '\(TensorIO.shown(key))' (available: \(TensorIO.keyList(keys)))")
        }
        return entries[i]
    }
}
