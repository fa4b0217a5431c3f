/// A validated tensor inside a file: its dtype, shape and layout, and a view of exactly
/// its bytes (usually inside a memory-mapped file, which `owner` keeps alive).
///
/// Readers construct a `RawTensor` only after checking that `bytes.count` equals
/// `count * dtype.size`; the conversions below rely on it.
public struct RawTensor: TensorDescription, @unchecked Sendable {
    /// How the tensor is named in messages: `q.npy` or `qk.safetensors:q`.
    public let name: String
    public let dtype: DType
    /// Logical shape; `[]` is a scalar.
    public let shape: [Int]
    public let byteOrder: ByteOrder
    /// Column-major storage (NPY `fortran_order: True`).
    public let fortranOrder: Bool
    /// Exactly `count * dtype.size` bytes.
    public let bytes: UnsafeRawBufferPointer
    /// Keeps `bytes` valid (a `MappedFile`, or an array box for in-memory tensors).
    public let owner: AnyObject?

    public init(name: String, dtype: DType, shape: [Int], byteOrder: ByteOrder,
                fortranOrder: Bool, bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        let elements = shape.reduce(into: Int?(1)) { acc, d in
            acc = acc.flatMap { a in d >= 0 ? a.multipliedReportingOverflow(by: d) : (0, true) }
                .flatMap { $0.overflow ? nil : $0.partialValue }
        }
        precondition(elements.map { $0.multipliedReportingOverflow(by: dtype.size) == (bytes.count, false) } ?? false,
                     "RawTensor bytes do not match its shape")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteOrder = byteOrder
        self.fortranOrder = fortranOrder
        self.bytes = bytes
        self.owner = owner
    }

    /// A zero-copy view when the tensor is float32, native byte order, C order and
    /// 4-byte aligned; `nil` otherwise (then use `floats()`).
    public var float32View: UnsafeBufferPointer<Float>? {
        guard dtype == .float32, byteOrder == .native, isCOrder else { return nil }
        guard let base = bytes.baseAddress else { return UnsafeBufferPointer(start: nil, count: 0) }
        guard Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 else { return nil }
        return UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: count)
    }

    /// The elements converted to `Float`, in logical C order.
    ///
    /// float64 values beyond float32's range become infinities (callers that need
    /// finite data check with `firstNonFinite`). Integer and bool types convert exactly
    /// up to 2^24.
    /// - Complexity: O(count).
    public func floats() -> [Float] {
        convert { Float($0) }
    }

    /// The elements converted to `Double`, in logical C order.
    public func doubles() -> [Double] {
        convert { $0 }
    }

    /// The elements of an integer or bool tensor as `Int64`, in logical C order;
    /// floating types are truncated toward zero.
    public func int64s() -> [Int64] {
        if dtype.isFloatingPoint {
            return convert { x in
                guard x.isFinite else { return 0 }
                if x >= 0x1p63 { return .max }
                if x < -0x1p63 { return .min }
                return Int64(x.rounded(.towardZero))
            }
        }
        var out = [Int64](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            forEachStorageIndex { logical, storage in
                dst[logical] = integerElement(at: storage)
            }
        }
        return out
    }

    /// The C-order flat index of the first value that is not a finite `Float` (NaN,
    /// infinity, or a float64 beyond float32's range, which `floats()` would turn into an
    /// infinity), or `nil` when all are finite.
    public func firstNonFinite() -> Int? {
        guard dtype.isFloatingPoint else { return nil }
        if let view = float32View {
            for i in 0..<view.count where !view[i].isFinite { return i }
            return nil
        }
        let values = doubles()
        return values.firstIndex { !Float($0).isFinite }
    }

    /// The element at C-order flat index `flat`, as `Double` (exact for every dtype
    /// except 64-bit integers beyond 2^53).
    public func double(atFlat flat: Int) -> Double {
        guard !isCOrder else { return floatElement(at: flat) }
        // Fortran order: column-major strides over the multi-index.
        var storage = 0, stride = 1
        for (d, i) in multiIndex(ofFlat: flat).enumerated() {
            storage += i * stride
            stride *= shape[d]
        }
        return floatElement(at: storage)
    }

    /// Why the element at C-order flat index `flat` is not a finite `Float`: "non-finite
    /// value nan", or for a finite float64 beyond float32's range "value 1e+39, beyond
    /// the float32 range nabla computes in (largest magnitude 3.4028235e+38)".
    /// (float16 and bfloat16 cannot overflow float32: their largest finite values are
    /// 65504 and about 3.39e38.)
    public func nonFiniteDescription(atFlat flat: Int) -> String {
        let x = double(atFlat: flat)
        if x.isFinite {
            return "value \(x), beyond the float32 range nabla computes in (largest magnitude \(Float.greatestFiniteMagnitude))"
        }
        return "non-finite value \(x)"
    }

    /// `[i0, i1, ...]` for a C-order flat index, as `q.npy[0, 3, 1]` prints it.
    public func multiIndex(ofFlat flat: Int) -> [Int] {
        TensorIO.multiIndex(ofFlat: flat, shape: shape)
    }
}

extension TensorIO {
    /// `[i0, i1, ...]` of C-order flat index `flat` in a tensor of `shape`.
    static func multiIndex(ofFlat flat: Int, shape: [Int]) -> [Int] {
        var rest = flat
        var idx = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] > 0 {
            idx[d] = rest % shape[d]
            rest /= shape[d]
        }
        return idx
    }
}

extension RawTensor {
    // MARK: - Element decoding

    private func convert<T>(_ transform: (Double) -> T) -> [T] where T: BinaryFloatingPoint {
        let n = count
        if let view = float32View, T.self == Float.self {
            return Array(view) as! [T]
        }
        return [T](unsafeUninitializedCapacity: n) { dst, initialized in
            forEachStorageIndex { logical, storage in
                (dst.baseAddress! + logical).initialize(to: transform(floatElement(at: storage)))
            }
            initialized = n
        }
    }

    private func convert(_ transform: (Double) -> Int64) -> [Int64] {
        var out = [Int64](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            forEachStorageIndex { logical, storage in dst[logical] = transform(floatElement(at: storage)) }
        }
        return out
    }

    /// Calls `body(logicalCIndex, storageIndex)` for every element.
    private func forEachStorageIndex(_ body: (Int, Int) -> Void) {
        let n = count
        if isCOrder {
            for i in 0..<n { body(i, i) }
            return
        }
        // Fortran order: column-major strides, walked in logical C order.
        let rank = shape.count
        var strides = [Int](repeating: 1, count: rank)
        for d in 1..<max(rank, 1) { strides[d] = strides[d - 1] * shape[d - 1] }
        TensorIO.forEachStrided(shape: shape, strides: strides, offset: 0, body)
    }

    @inline(__always)
    private func load<U: FixedWidthInteger>(_: U.Type, at index: Int) -> U {
        let raw = bytes.loadUnaligned(fromByteOffset: index * MemoryLayout<U>.size, as: U.self)
        return byteOrder == .little ? U(littleEndian: raw) : U(bigEndian: raw)
    }

    /// Element `i` in storage order converted to `Float` (float64 beyond float32's range
    /// becomes infinite), for callers that pick single elements of a large tensor.
    @inline(__always)
    public func floatValue(atStorageIndex i: Int) -> Float {
        Float(floatElement(at: i))
    }

    @inline(__always)
    private func floatElement(at i: Int) -> Double {
        switch dtype {
        case .float32: Double(Float(bitPattern: load(UInt32.self, at: i)))
        case .float64: Double(bitPattern: load(UInt64.self, at: i))
        case .float16: Double(halfToFloat(load(UInt16.self, at: i)))
        case .bfloat16: Double(Float(bitPattern: UInt32(load(UInt16.self, at: i)) << 16))
        case .int8: Double(Int8(bitPattern: bytes[i]))
        case .uint8: Double(bytes[i])
        case .bool: bytes[i] != 0 ? 1 : 0
        case .int16: Double(Int16(bitPattern: load(UInt16.self, at: i)))
        case .uint16: Double(load(UInt16.self, at: i))
        case .int32: Double(Int32(bitPattern: load(UInt32.self, at: i)))
        case .uint32: Double(load(UInt32.self, at: i))
        case .int64: Double(Int64(bitPattern: load(UInt64.self, at: i)))
        case .uint64: Double(load(UInt64.self, at: i))
        }
    }

    @inline(__always)
    private func integerElement(at i: Int) -> Int64 {
        switch dtype {
        case .int8: Int64(Int8(bitPattern: bytes[i]))
        case .uint8: Int64(bytes[i])
        case .bool: bytes[i] != 0 ? 1 : 0
        case .int16: Int64(Int16(bitPattern: load(UInt16.self, at: i)))
        case .uint16: Int64(load(UInt16.self, at: i))
        case .int32: Int64(Int32(bitPattern: load(UInt32.self, at: i)))
        case .uint32: Int64(load(UInt32.self, at: i))
        case .int64: Int64(bitPattern: load(UInt64.self, at: i))
        case .uint64: Int64(clamping: load(UInt64.self, at: i))
        case .float16, .bfloat16, .float32, .float64: Int64(floatElement(at: i))
        }
    }
}

/// IEEE 754 binary16 bits to `Float`, exactly (subnormals, infinities and NaN included).
@inline(__always)
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1F
    let mant = UInt32(h & 0x03FF)
    if exp == 0 {
        // zero or subnormal: mant * 2^-24
        let magnitude = Float(mant) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    }
    if exp == 0x1F {
        return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13))
    }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
}

/// `Float` to IEEE 754 binary16 bits, rounding to nearest even.
public func floatToHalf(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    if f.isNaN { return sign | 0x7E00 }
    let a = abs(f)
    if a >= 65520 { return sign | 0x7C00 } // rounds to infinity
    if a < 0x1p-14 {
        // subnormal range: round a / 2^-24 to nearest even integer
        let m = (a * 0x1p24).rounded(.toNearestOrEven)
        return sign | UInt16(m)
    }
    let e = Int((bits >> 23) & 0xFF) - 127 + 15
    var mant = bits & 0x7F_FFFF
    var half = UInt32(e) << 10 | (mant >> 13)
    mant &= 0x1FFF
    if mant > 0x1000 || (mant == 0x1000 && (half & 1) == 1) { half += 1 }
    return sign | UInt16(half)
}

/// `Float` to bfloat16 bits, rounding to nearest even (NaN stays NaN).
public func floatToBFloat16(_ f: Float) -> UInt16 {
    if f.isNaN { return UInt16(f.bitPattern >> 16) | 0x0040 }
    let bits = f.bitPattern
    let rounding = ((bits >> 16) & 1) + 0x7FFF
    return UInt16((bits &+ rounding) >> 16)
}
