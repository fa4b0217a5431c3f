import Foundation
import Testing
@testable import NablaCore

@Suite("RawTensor conversions")
struct RawTensorTests {
    @Test func fortranToCOrder() {
        // Logical 2x3 [[0, 1, 2], [3, 4, 5]] stored column-major: 0 3 1 4 2 5.
        let t = makeTensor(leBytes([0, 3, 1, 4, 2, 5]), dtype: .float32, shape: [2, 3], fortranOrder: true)
        #expect(!t.isCOrder)
        #expect(t.floats() == [0, 1, 2, 3, 4, 5])
        #expect(t.doubles() == [0, 1, 2, 3, 4, 5])
        #expect(t.int64s() == [0, 1, 2, 3, 4, 5])

        // Integer path of the same walk, and rank 3 with a unit axis.
        let ints = makeTensor([0, 3, 1, 4, 2, 5], dtype: .uint8, shape: [2, 1, 3], fortranOrder: true)
        #expect(ints.int64s() == [0, 1, 2, 3, 4, 5])

        // Rank <= 1 (after dropping unit axes) is the same in both orders.
        let vector = makeTensor(leBytes([7, 8]), dtype: .float32, shape: [1, 2], fortranOrder: true)
        #expect(vector.isCOrder && vector.float32View != nil)
    }

    @Test func bigEndianElements() {
        let be: [UInt8] = [0x3F, 0x80, 0x00, 0x00, 0xC0, 0x20, 0x00, 0x00] // 1.0, -2.5
        let t = makeTensor(be, dtype: .float32, shape: [2], byteOrder: .big)
        #expect(t.float32View == nil)
        #expect(t.floats() == [1, -2.5])
        let i = makeTensor([0xFF, 0xFE, 0x01, 0x00], dtype: .int16, shape: [2], byteOrder: .big)
        #expect(i.int64s() == [-2, 256])
    }

    @Test func float16Decoding() {
        func half(_ bits: [UInt16]) -> RawTensor {
            makeTensor(bits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, dtype: .float16, shape: [bits.count])
        }
        let t = half([0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF, 0x7C00, 0xFC00, 0x8000, 0x7E00, 0x8001])
        let v = t.floats()
        #expect(v[0] == 0x1p-24)
        #expect(v[1] == 1023 * 0x1p-24)
        #expect(v[2] == 0x1p-14)
        #expect(v[3] == 1)
        #expect(v[4] == 65504)
        #expect(v[5] == .infinity && v[6] == -.infinity)
        #expect(v[7] == 0 && v[7].sign == .minus)
        #expect(v[8].isNaN)
        #expect(v[9] == -0x1p-24)
        #expect(t.firstNonFinite() == 5)
        #expect(half([0x3C00, 0x7E00]).firstNonFinite() == 1)
    }

    /// Every non-NaN half survives float and back; float rounding to half is exact.
    @Test func halfConversionsRoundTrip() {
        for h in 0...UInt16.max {
            let f = halfToFloat(h)
            if f.isNaN {
                #expect(floatToHalf(f) & 0x7C00 == 0x7C00 && floatToHalf(f) & 0x3FF != 0)
                continue
            }
            if floatToHalf(f) != h {
                Issue.record("half 0x\(String(h, radix: 16)) -> \(f) -> 0x\(String(floatToHalf(f), radix: 16))")
                return
            }
        }
    }

    @Test func bfloat16() {
        let bits: [UInt16] = [0x3F80, 0xC020, 0x7F80, 0x0001, 0x7FC0]
        let t = makeTensor(bits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, dtype: .bfloat16, shape: [5])
        let v = t.floats()
        #expect(v[0] == 1 && v[1] == -2.5 && v[2] == .infinity)
        #expect(v[3] == Float(bitPattern: 0x0001_0000))
        #expect(v[4].isNaN)
        #expect(t.firstNonFinite() == 2)
        #expect(floatToBFloat16(-2.5) == 0xC020)
        #expect(floatToBFloat16(.nan) & 0x7FC0 == 0x7FC0)
    }

    @Test func firstNonFiniteAndMultiIndex() {
        var values = (0..<24).map { Float($0) }
        values[17] = .nan
        values[20] = .infinity
        let t = makeTensor(leBytes(values), dtype: .float32, shape: [2, 3, 4])
        #expect(t.float32View != nil)
        let flat = t.firstNonFinite()
        #expect(flat == 17)
        #expect(t.multiIndex(ofFlat: 17) == [1, 1, 1])
        #expect(t.multiIndex(ofFlat: 23) == [1, 2, 3])
        #expect(t.multiIndex(ofFlat: 4) == [0, 1, 0])

        // The slow path (big-endian) finds the same element in C order.
        let be = makeTensor(values.flatMap { v in withUnsafeBytes(of: v.bitPattern.bigEndian) { Array($0) } },
                            dtype: .float32, shape: [2, 3, 4], byteOrder: .big)
        #expect(be.firstNonFinite() == 17)

        // Fortran order reports the C-order index: logical [0, 1] is stored at 2.
        let f = makeTensor(leBytes([0, 0, .nan, 0]), dtype: .float32, shape: [2, 2], fortranOrder: true)
        #expect(f.firstNonFinite() == 1)
        #expect(f.multiIndex(ofFlat: 1) == [0, 1])

        let finite = makeTensor(leBytes([1, 2]), dtype: .float32, shape: [2])
        #expect(finite.firstNonFinite() == nil)
        let ints = makeTensor([1, 2], dtype: .int8, shape: [2])
        #expect(ints.firstNonFinite() == nil)
    }
}

@Suite("RawTensor edge conversions")
struct RawTensorEdgeTests {
    static func float64Tensor(_ values: [Double]) -> RawTensor {
        let box = FloatStorage(count: values.count * 2)  // 8 bytes per value
        let raw = UnsafeMutableRawBufferPointer(box.buffer)
        for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self) }
        return RawTensor(name: "t", dtype: .float64, shape: [values.count], byteOrder: .little, fortranOrder: false,
                         bytes: UnsafeRawBufferPointer(raw), owner: box)
    }

    @Test("a float64 beyond float32's range counts as non-finite")
    func float64Overflow() {
        let t = Self.float64Tensor([1, 2, 1e300, .nan])
        #expect(t.firstNonFinite() == 2)
        #expect(t.floats()[2] == .infinity)
    }

    @Test("int64s clamps floating values beyond Int64")
    func int64Clamp() {
        let t = Self.float64Tensor([1e300, -1e300, -2.7, 3.9, .nan])
        #expect(t.int64s() == [.max, .min, -2, 3, 0])
    }
}
