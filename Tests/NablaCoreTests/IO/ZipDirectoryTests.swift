import Foundation
import Testing
@testable import NablaCore

/// A one-member `.npz` written byte by byte, plain or zip64 (a zip64 extra field in the
/// directory record, a zip64 end record and locator), with the position of every
/// directory field ZIPFoundation reads, so each can be corrupted alone.
enum ZipFields {
    struct Archive {
        var bytes: [UInt8]
        /// Field name -> (offset in `bytes`, width in bytes).
        var fields: [String: (at: Int, width: Int)]
    }

    /// Members `a.npy` then `q.npy` (whose record's fields are named); in the zip64
    /// form both records carry their sizes in a zip64 extra field, and `q.npy` its local
    /// header offset too (as writers do: an offset of 0 is never written as zip64).
    static func make(zip64: Bool) throws -> Archive {
        let values: [Float] = [1, 2, 3, 4]
        let data = try NPY.encode(values, shape: [4], name: "q")
        let crc = data.withUnsafeBytes { Int(CRC32.checksum($0)) }
        var out: [UInt8] = []
        var fields: [String: (Int, Int)] = [:]
        func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xFF) } }
        func u64(_ v: Int) -> [UInt8] { (0..<8).map { UInt8(v >> (8 * $0) & 0xFF) } }
        func field(_ key: String?, _ bytes: [UInt8]) {
            if let key { fields[key] = (out.count, bytes.count) }
            out += bytes
        }
        var offsets: [Int] = []
        for member in ["a.npy", "q.npy"] {
            offsets.append(out.count)
            let name = Array(member.utf8)
            out += [0x50, 0x4B, 3, 4] + u16(20) + u16(0) + u16(0) + u16(0) + u16(0x21)
            out += u32(crc) + u32(data.count) + u32(data.count) + u16(name.count) + u16(0) + name + data
        }
        let cdOffset = out.count
        for (i, member) in ["a.npy", "q.npy"].enumerated() {
            let name = Array(member.utf8)
            let k: (String) -> String? = { i == 1 ? "record.\($0)" : nil }
            let bigOffset = zip64 && i == 1
            field(k("signature"), [0x50, 0x4B, 1, 2])
            out += u16(zip64 ? 45 : 20) + u16(zip64 ? 45 : 20) + u16(0) + u16(0) + u16(0) + u16(0x21) + u32(crc)
            field(k("compressedSize"), u32(zip64 ? 0xFFFF_FFFF : data.count))
            field(k("uncompressedSize"), u32(zip64 ? 0xFFFF_FFFF : data.count))
            field(k("nameLength"), u16(name.count))
            field(k("extraLength"), u16(zip64 ? (bigOffset ? 28 : 20) : 0))
            field(k("commentLength"), u16(0))
            out += u16(0) + u16(0) + u32(0)
            field(k("localHeaderOffset"), u32(bigOffset ? 0xFFFF_FFFF : offsets[i]))
            out += name
            if zip64 {
                out += u16(1) + u16(bigOffset ? 24 : 16)
                field(k("zip64.uncompressedSize"), u64(data.count))
                field(k("zip64.compressedSize"), u64(data.count))
                if bigOffset { field(k("zip64.localHeaderOffset"), u64(offsets[i])) }
            }
        }
        let cdSize = out.count - cdOffset
        if zip64 {
            let recordAt = out.count
            out += [0x50, 0x4B, 6, 6] + u64(44) + u16(45) + u16(45) + u32(0) + u32(0) + u64(2)
            field("zip64.count", u64(2))
            field("zip64.directorySize", u64(cdSize))
            field("zip64.directoryOffset", u64(cdOffset))
            out += [0x50, 0x4B, 6, 7] + u32(0)
            field("locator.recordOffset", u64(recordAt))
            out += u32(1)
        }
        out += [0x50, 0x4B, 5, 6] + u16(0) + u16(0) + u16(zip64 ? 0xFFFF : 2)
        field("end.count", u16(zip64 ? 0xFFFF : 2))
        field("end.directorySize", u32(zip64 ? 0xFFFF_FFFF : cdSize))
        field("end.directoryOffset", u32(zip64 ? 0xFFFF_FFFF : cdOffset))
        field("end.commentLength", u16(0))
        return Archive(bytes: out, fields: fields)
    }

    static func set(_ bytes: inout [UInt8], _ at: Int, _ width: Int, _ value: UInt64) {
        for i in 0..<width { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
}

@Suite("ZIP directory checks")
struct ZipDirectoryTests {
    @Test(arguments: [false, true])
    func cleanArchivesRead(_ zip64: Bool) throws {
        let dir = try TempDir()
        let path = try dir.write("a.npz", ZipFields.make(zip64: zip64).bytes)
        let t = try TensorFile.open(path: path).tensor("q")
        #expect(try TensorFile.open(path: path).keys == ["a", "q"])
        #expect(t.shape == [4])
        #expect(t.floats() == [1, 2, 3, 4])
    }

    /// Every directory field set to values past the file (and to the values that
    /// trapped ZIPFoundation: 2^63 and more): refused in one line naming the file and
    /// the field, or read correctly; never a crash.
    @Test(arguments: [false, true])
    func everyFieldIsRangeChecked(_ zip64: Bool) throws {
        let dir = try TempDir()
        let clean = try ZipFields.make(zip64: zip64)
        let size = UInt64(clean.bytes.count)
        // What each field's message says when its value is out of range.
        let says: [String: String] = [
            "record.signature": "no record signature",
            "record.compressedSize": "compressed size",
            "record.uncompressedSize": "size",
            "record.nameLength": "run past the directory's end",
            "record.extraLength": "run past the directory's end",
            "record.commentLength": "run past the directory's end",
            "record.localHeaderOffset": "local header offset",
            "record.zip64.uncompressedSize": "size",
            "record.zip64.compressedSize": "compressed size",
            "record.zip64.localHeaderOffset": "local header offset",
            "zip64.count": "members, more than its central directory",
            "zip64.directorySize": "central directory of",
            "zip64.directoryOffset": "central directory offset",
            "locator.recordOffset": "zip64 end-of-central-directory locator",
            "end.count": "members, more than its central directory",
            "end.directorySize": "central directory of",
            "end.directoryOffset": "central directory offset",
            "end.commentLength": "comment length",
        ]
        var refused = 0
        for (name, (at, width)) in clean.fields.sorted(by: { $0.key < $1.key }) {
            let maxValue = width == 8 ? UInt64.max : (UInt64(1) << (8 * UInt64(width))) - 1
            var values: [UInt64] = [maxValue, maxValue - 1, size, size + 1, size * 4096]
            if width == 8 { values += [1 << 63, (1 << 63) + 5, 1 << 62] }
            if name == "record.signature" { values = [0, 0x0201_4B51] }
            for value in Set(values.map { min($0, maxValue) }).sorted() {
                var bytes = clean.bytes
                ZipFields.set(&bytes, at, width, value)
                let path = try dir.write("\(name)-\(value).npz", bytes)
                do {
                    let t = try TensorFile.open(path: path).tensor("q")
                    #expect(t.floats() == [1, 2, 3, 4], "\(name) = \(value) read to other values")
                } catch let error as NablaError {
                    #expect(error.message.hasPrefix(path), "\(name) = \(value): \(error.message)")
                    #expect(!error.message.contains("\n"))
                    // A value that ZIPFoundation would read past the file is refused by the
                    // directory check, naming the field.
                    // (In a zip64 archive the 32-bit fields only mark the values its zip64
                    // fields hold: changing one makes ZIPFoundation read another field.)
                    let markers = ["end.count", "end.directorySize", "end.directoryOffset",
                                   "record.compressedSize", "record.uncompressedSize", "record.localHeaderOffset"]
                    let outside = value >= size && !(zip64 && markers.contains(name))
                    if outside, let part = says[name], name != "record.signature" {
                        #expect(error.message.contains(part), "\(name) = \(value): \(error.message)")
                        #expect(error.message.contains("not a readable ZIP archive"), "\(name) = \(value): \(error.message)")
                    }
                    refused += 1
                }
            }
        }
        #expect(refused > 40)
    }
}
