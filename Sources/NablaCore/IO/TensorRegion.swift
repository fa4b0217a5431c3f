/// Where the bytes of a C-order tensor lie, so that parts of it (some heads) can be read
/// without reading the rest: at an offset of a file that can be read anywhere (`.npy`,
/// safetensors, a stored `.npz` or `torch.save` member), or as a stream from the
/// tensor's first byte (a deflated `.npz` or `torch.save` member, which cannot seek: it
/// is inflated from its start, and the parts wanted are kept as they pass).
///
/// `PlannedTensor.region` holds one when its tensor is in C order and contiguous;
/// `HeadRead` uses it.
public enum TensorRegion: Sendable {
    /// The tensor's bytes start at byte `offset` of `source`.
    case seekable(ByteSource, offset: Int)
    /// `inflate(consume)` calls `consume` with the tensor's bytes from its first, in
    /// order, chunk after chunk (the last chunk may run past the tensor's end, which
    /// consumers ignore); it throws the member's own errors (CRC-32, bounds).
    case stream(@Sendable (_ consume: (UnsafeRawBufferPointer) throws -> Void) throws -> Void)

    /// The region of the bytes `byteOffset` on (a slice of the tensor).
    func dropping(_ byteOffset: Int) -> TensorRegion {
        guard byteOffset > 0 else { return self }
        switch self {
        case .seekable(let source, let offset):
            return .seekable(source, offset: offset + byteOffset)
        case .stream(let inflate):
            return .stream { consume in
                var skip = byteOffset
                try inflate { chunk in
                    if skip >= chunk.count {
                        skip -= chunk.count
                        return
                    }
                    try consume(UnsafeRawBufferPointer(rebasing: chunk[skip...]))
                    skip = 0
                }
            }
        }
    }

    /// Whether the region can be read at any offset.
    public var isSeekable: Bool {
        if case .seekable = self { return true }
        return false
    }
}
