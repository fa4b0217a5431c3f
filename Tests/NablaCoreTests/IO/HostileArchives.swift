import Foundation
@testable import NablaCore

/// Pickle programs written opcode by opcode, as `torch.save` writes them (protocol 2),
/// for hostile files made in the tests.
enum Pickle {
    static let proto: [UInt8] = [0x80, 2]
    static let stop: [UInt8] = [UInt8(ascii: ".")]
    static let mark: [UInt8] = [UInt8(ascii: "(")]
    static let tuple: [UInt8] = [UInt8(ascii: "t")]
    static let emptyDict: [UInt8] = [UInt8(ascii: "}")]
    static let emptyList: [UInt8] = [UInt8(ascii: "]")]
    static let none: [UInt8] = [UInt8(ascii: "N")]
    static let setitems: [UInt8] = [UInt8(ascii: "u")]
    static let appends: [UInt8] = [UInt8(ascii: "e")]

    static func global(_ module: String, _ name: String) -> [UInt8] {
        [UInt8(ascii: "c")] + Array("\(module)\n\(name)\n".utf8)
    }

    static func string(_ s: String) -> [UInt8] {
        let u = Array(s.utf8)
        return [UInt8(ascii: "X")] + le32(UInt32(u.count)) + u
    }

    /// Any 64-bit int (LONG1 of 8 bytes).
    static func int(_ v: Int) -> [UInt8] {
        [0x8A, 8] + withUnsafeBytes(of: Int64(v).littleEndian) { Array($0) }
    }

    static func ints(_ vs: [Int]) -> [UInt8] { mark + vs.flatMap(int) + tuple }

    static func put(_ i: UInt32) -> [UInt8] { [UInt8(ascii: "r")] + le32(i) }
    static func get(_ i: UInt32) -> [UInt8] { [UInt8(ascii: "j")] + le32(i) }

    static func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    /// `_rebuild_tensor_v2(storage('storage', FloatStorage, key, 'cpu', numel), offset, shape, stride, False, OrderedDict())`.
    static func tensor(key: String, numel: Int, offset: Int = 0, shape: [Int], stride: [Int], type: String = "FloatStorage") -> [UInt8] {
        var p = global("torch._utils", "_rebuild_tensor_v2") + mark
        p += mark + string("storage") + global("torch", type) + string(key) + string("cpu") + int(numel) + tuple + [UInt8(ascii: "Q")]
        p += int(offset) + ints(shape) + ints(stride) + [0x89] + global("collections", "OrderedDict") + [UInt8(ascii: ")"), UInt8(ascii: "R")]
        return p + tuple + [UInt8(ascii: "R")]
    }

    /// `{key: value, ...}` of already-pickled values.
    static func dict(_ items: [(String, [UInt8])]) -> [UInt8] {
        emptyDict + mark + items.flatMap { string($0.0) + $0.1 } + setitems
    }
}

/// A ZIP archive of stored members written byte by byte (local headers, central
/// directory, end record), with CRC-32s from `CRC32` (checked against zlib's in
/// `CRCTests`), or a given one.
enum StoredZip {
    static func make(_ members: [(name: String, data: [UInt8])], flags: [String: UInt16] = [:]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xFF) } }
        for (name, data) in members {
            let crc = data.withUnsafeBytes { Int(CRC32.checksum($0)) }
            let n = Array(name.utf8)
            let flag = Int(flags[name] ?? 0)
            let offset = out.count
            // Local header: signature, version, flags, method 0, time, date, crc, sizes, name, extra.
            out += [0x50, 0x4B, 3, 4] + u16(20) + u16(flag) + u16(0) + u16(0) + u16(0x21)
            out += u32(crc) + u32(data.count) + u32(data.count) + u16(n.count) + u16(0) + n + data
            central += [0x50, 0x4B, 1, 2] + u16(20) + u16(20) + u16(flag) + u16(0) + u16(0) + u16(0x21)
            central += u32(crc) + u32(data.count) + u32(data.count) + u16(n.count) + u16(0) + u16(0)
            central += u16(0) + u16(0) + u32(0) + u32(offset) + n
        }
        let cdOffset = out.count
        out += central
        out += [0x50, 0x4B, 5, 6] + u16(0) + u16(0) + u16(members.count) + u16(members.count)
        out += u32(central.count) + u32(cdOffset) + u16(0)
        return out
    }

    /// A torch.save archive `NAME/...` of `pickle` and float32 storages `data/KEY`.
    static func torch(pickle: [UInt8], storages: [(String, [UInt8])], flags: [String: UInt16] = [:]) -> [UInt8] {
        make([("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8))]
             + storages.map { ("archive/data/\($0.0)", $0.1) }, flags: flags)
    }

    /// Where member `name`'s data start in the archive `bytes` (from its local header).
    static func dataOffset(of name: String, in bytes: [UInt8]) -> Int? {
        let n = Array(name.utf8)
        var i = 0
        while i + 30 + n.count <= bytes.count {
            if bytes[i] == 0x50, bytes[i + 1] == 0x4B, bytes[i + 2] == 3, bytes[i + 3] == 4,
               Int(bytes[i + 26]) | Int(bytes[i + 27]) << 8 == n.count, Array(bytes[(i + 30)..<(i + 30 + n.count)]) == n {
                let extra = Int(bytes[i + 28]) | Int(bytes[i + 29]) << 8
                return i + 30 + n.count + extra
            }
            i += 1
        }
        return nil
    }

    /// `bytes` with bit 0 of byte `at` of member `name`'s data flipped.
    static func flipped(_ bytes: [UInt8], member name: String, at: Int) -> [UInt8] {
        var b = bytes
        guard let start = dataOffset(of: name, in: bytes) else { fatalError("no member \(name)") }
        b[start + at] ^= 1
        return b
    }
}
