/// Element types nabla reads from tensor files.
///
/// Floating types carry Q, K, V and latents; integer and bool types carry masks and
/// index tensors (`kv_indices`, `kv_num_blocks`).
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float16, bfloat16, float32, float64
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .int8, .uint8, .bool: 1
        case .float16, .bfloat16, .int16, .uint16: 2
        case .float32, .int32, .uint32: 4
        case .float64, .int64, .uint64: 8
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .bfloat16, .float32, .float64: true
        default: false
        }
    }

    public var description: String { rawValue }
}

/// Byte order of the elements in a file.
public enum ByteOrder: Sendable, Hashable {
    case little, big

    /// The order of the machine nabla runs on.
    public static var native: ByteOrder {
        1.littleEndian == 1 ? .little : .big
    }
}
