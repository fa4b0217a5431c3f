extension RawTensor {
    /// The sub-tensor at `index` on the leading axes (`t[i, j]` in NumPy): shape
    /// `shape.dropFirst(index.count)`, viewing the same bytes (C order) or gathered
    /// (Fortran order). `[]` returns the tensor itself.
    /// - Throws: `NablaError.badShape` naming the tensor when an index is out of range
    ///   or leaves no axes.
    /// - Complexity: O(1) in C order, O(elements of the slice) in Fortran order.
    public func leading(_ index: [Int]) throws -> RawTensor {
        if index.isEmpty { return self }
        let (shown, inner, flat) = try TensorIO.leading(index, name: name, shape: shape)
        let innerCount = inner.reduce(1, *)
        if isCOrder {
            let start = flat * innerCount * dtype.size
            return RawTensor(name: shown, dtype: dtype, shape: inner, byteOrder: byteOrder, fortranOrder: false,
                             bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<start + innerCount * dtype.size]), owner: owner)
        }
        // Fortran order: element (i..., rest...) sits at i0 + s0*(i1 + ...); gather the slice.
        var strides = [Int](repeating: 1, count: shape.count)
        for d in 1..<shape.count { strides[d] = strides[d - 1] * shape[d - 1] }
        let offset = zip(index, strides).map { $0 * $1 }.reduce(0, +)
        let copy = InflatedBytes(capacity: innerCount * dtype.size)
        copy.gather(from: bytes, elementSize: dtype.size, offset: offset, shape: inner, strides: Array(strides.dropFirst(index.count)))
        return RawTensor(name: shown, dtype: dtype, shape: inner, byteOrder: byteOrder, fortranOrder: false,
                         bytes: copy.bytes, owner: copy)
    }
}

extension TensorIO {
    /// Checks `index` on the leading axes of a tensor `name` of `shape`: the slice's
    /// name (`name[i, j]`), its shape, and its C-order position among the slices.
    /// - Throws: `NablaError.badShape` naming the tensor when an index is out of range
    ///   or leaves no axes.
    static func leading(_ index: [Int], name: String, shape: [Int]) throws -> (name: String, shape: [Int], flat: Int) {
        let shown = "\(name)[\(index.map(String.init).joined(separator: ", "))]"
        guard index.count < shape.count else {
            throw NablaError(.badShape, "\(shown): \(index.count) leading indices leave no axes of shape \(shapeText(shape))")
        }
        for (d, i) in index.enumerated() where !(0..<shape[d]).contains(i) {
            throw NablaError(.badShape, "\(shown): index \(i) is outside axis \(d) of size \(shape[d]) (shape \(shapeText(shape)))")
        }
        var flat = 0
        for (d, i) in index.enumerated() { flat = flat * shape[d] + i }
        return (shown, Array(shape.dropFirst(index.count)), flat)
    }
}
