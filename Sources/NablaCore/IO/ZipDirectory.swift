import Foundation

/// The end records and central directory of a ZIP archive, read and range-checked by
/// nabla before ZIPFoundation sees the archive.
///
/// ZIPFoundation 0.9.20 trusts the directory's values: an offset of 2^63 or more (from
/// a zip64 record or a zip64 extra field) stops the process in `off_t(offset)` ("Not
/// enough bits to represent the passed value"), and a huge size overflows the sums it
/// makes (`Archive.makeIterator`, `Archive.extract`). So every value ZIPFoundation
/// reads from the directory is checked here first, against the file's size, exactly as
/// ZIPFoundation will find it:
///
/// - the end-of-central-directory record: the last `PK\5\6` signature at least 22
///   bytes before the end (ZIPFoundation takes the last one in the whole file; nabla
///   looks in the last 64 KiB + 22 bytes, where the format puts it), its comment
///   within the file;
/// - the zip64 end record when ZIPFoundation uses it (a zip64 locator right before the
///   end record and a zip64 record, version 4.5 or later, right before the locator),
///   and the locator's offset of that record;
/// - the directory's offset, size and member count: the directory lies before the end
///   records, and holds the count's records of 46 bytes or more;
/// - each record: its signature, its name, extra field and comment within the
///   directory, and the local header offset, compressed size and (stored members)
///   size ZIPFoundation takes from it or from its zip64 extra field, within the part
///   of the file before the directory.
///
/// A value out of range is refused in one line naming the file, the record and the
/// field. The local header offsets found here are the ones nabla reads stored members
/// at (ZIPFoundation keeps them internal).
struct ZipDirectory {
    /// One central directory record: what ZipContainer reports about members that
    /// ZIPFoundation does not list.
    struct Record {
        let flags: UInt16
        let name: String
        /// Where the member's local header starts, as ZIPFoundation reads it (the zip64
        /// value when there is one); checked to lie before the directory.
        let localHeaderOffset: Int
    }

    /// The member count the end record gives (the zip64 record's when ZIPFoundation
    /// uses it).
    let count: Int
    /// Every record, in directory order.
    let records: [Record]

    /// Where the format puts the end record: within the last 22 + 65,535 bytes (the
    /// record and the longest comment).
    static let endSearch = 22 + 0xFFFF
    static let endRecordSize = 22
    static let zip64LocatorSize = 20
    static let zip64RecordSize = 56
    static let recordSize = 46
    static let localHeaderSize = 30

    /// Reads and checks the directory of the archive in `source`.
    /// - Throws: `NablaError.malformedFile` naming `source.path`, the record and the
    ///   field whose value points outside the file or disagrees with the format.
    /// - Complexity: O(directory size + 64 KiB) bytes read.
    static func read(_ source: ByteSource) throws -> ZipDirectory {
        let path = source.path
        let size = source.size
        func bad(_ what: String) -> NablaError {
            NablaError(.malformedFile, "\(path): not a readable ZIP archive: \(what)")
        }
        // End of central directory record.
        guard size >= endRecordSize else { throw bad("\(size) bytes, too short for an end-of-central-directory record (truncated)") }
        // The record usually ends the file (no comment): read 22 bytes first, and the
        // last 64 KiB only when they are not the record (a plan reads headers only).
        let (last, lastOwner) = try source.bytes((size - endRecordSize)..<size)
        let atEnd = withExtendedLifetime(lastOwner) {
            last[0] == 0x50 && last[1] == 0x4B && last[2] == 5 && last[3] == 6 && last[20] == 0 && last[21] == 0
        }
        let tailStart = atEnd ? size - endRecordSize : max(0, size - endSearch)
        let (tail, tailOwner) = atEnd ? (last, lastOwner) : try source.bytes(tailStart..<size)
        let end = try withExtendedLifetime(tailOwner) { () throws -> (at: Int, count: UInt64, dirSize: UInt64, dirOffset: UInt64) in
            var i = tail.count - endRecordSize
            while i >= 0, !(tail[i] == 0x50 && tail[i + 1] == 0x4B && tail[i + 2] == 5 && tail[i + 3] == 6) { i -= 1 }
            guard i >= 0 else {
                throw bad("no end-of-central-directory record in its last \(min(size, endSearch)) bytes (truncated or corrupt)")
            }
            let r = Fields(tail, at: i)
            let comment = r.u16(20)
            guard comment <= tail.count - i - endRecordSize else {
                throw bad("end-of-central-directory record at offset \(tailStart + i): comment length \(comment) runs past the end of the file")
            }
            return (tailStart + i, UInt64(r.u16(10)), UInt64(r.u32(12)), UInt64(r.u32(16)))
        }
        var (count, dirSize, dirOffset) = (end.count, end.dirSize, end.dirOffset)
        var recordsEnd = end.at // the directory lies before the end records
        var field = "end-of-central-directory record"

        // Zip64: ZIPFoundation reads a locator right before the end record and a record
        // right before the locator, and uses the record's values when both parse.
        if end.at >= zip64LocatorSize {
            let locatorAt = end.at - zip64LocatorSize
            let (loc, locOwner) = try source.bytes(locatorAt..<end.at)
            let locator = withExtendedLifetime(locOwner) { () -> UInt64? in
                let f = Fields(loc, at: 0)
                return f.signature(0x50, 0x4B, 6, 7) ? f.u64(8) : nil
            }
            if let recordOffset = locator {
                guard locatorAt > zip64RecordSize, recordOffset == UInt64(locatorAt - zip64RecordSize) else {
                    throw bad("zip64 end-of-central-directory locator at offset \(locatorAt) gives the zip64 record's offset as \(recordOffset), not \(max(0, locatorAt - zip64RecordSize)) (right before the locator, where it is read)")
                }
                let recordAt = locatorAt - zip64RecordSize
                let (rec, recOwner) = try source.bytes(recordAt..<locatorAt)
                let values = withExtendedLifetime(recOwner) { () -> (UInt64, UInt64, UInt64)? in
                    let f = Fields(rec, at: 0)
                    guard f.signature(0x50, 0x4B, 6, 6) else { return nil }
                    guard f.u16(14) >= 45 else { return nil }
                    return (f.u64(32), f.u64(40), f.u64(48))
                }
                guard let values else {
                    throw bad("zip64 end-of-central-directory locator at offset \(locatorAt) points to offset \(recordAt), which holds no zip64 end record (version 4.5 or later)")
                }
                (count, dirSize, dirOffset) = values
                recordsEnd = recordAt
                field = "zip64 end-of-central-directory record"
            }
        }
        let limit = UInt64(recordsEnd)
        guard dirOffset <= limit else {
            throw bad("\(field): central directory offset \(dirOffset) lies past the end records (offset \(recordsEnd))")
        }
        guard dirSize <= limit - dirOffset else {
            throw bad("\(field): central directory of \(dirSize) bytes at offset \(dirOffset) runs past the end records (offset \(recordsEnd))")
        }
        guard count <= dirSize / UInt64(recordSize) else {
            throw bad("\(field): \(count) members, more than its central directory of \(dirSize) bytes can hold (\(recordSize) bytes or more each)")
        }
        // All three now fit in Int: they are at most the file's size.
        let (start, total) = (Int(dirOffset), Int(count))
        let dirEnd = start + Int(dirSize)
        let (dir, dirOwner) = try source.bytes(start..<dirEnd)
        let records = try withExtendedLifetime(dirOwner) { () throws -> [Record] in
            var records: [Record] = []
            records.reserveCapacity(total)
            var at = 0
            for i in 0..<total {
                let which = "central directory record \(i + 1) of \(total) (offset \(start + at))"
                guard at <= dir.count - recordSize else { throw bad("\(which) runs past the directory's end (offset \(dirEnd))") }
                let r = Fields(dir, at: at)
                guard r.signature(0x50, 0x4B, 1, 2) else { throw bad("\(which) has no record signature (PK\\1\\2)") }
                let (nameLength, extraLength, commentLength) = (r.u16(28), r.u16(30), r.u16(32))
                guard nameLength + extraLength + commentLength <= dir.count - at - recordSize else {
                    throw bad("\(which): its name, extra field and comment (\(nameLength + extraLength + commentLength) bytes) run past the directory's end")
                }
                let nameStart = at + recordSize
                let name = String(decoding: UnsafeRawBufferPointer(rebasing: dir[nameStart..<(nameStart + nameLength)]), as: UTF8.self)
                let member = "member '\(TensorIO.shown(name))' (\(which))"
                let extra = UnsafeRawBufferPointer(rebasing: dir[(nameStart + nameLength)..<(nameStart + nameLength + extraLength)])
                let v = effectiveValues(r, extra: extra)
                let dataLimit = UInt64(start) // members' headers and data lie before the directory
                guard v.localOffset <= dataLimit, UInt64(localHeaderSize) <= dataLimit - v.localOffset else {
                    throw bad("\(member): local header offset \(v.localOffset)\(v.zip64Offset ? " (zip64)" : "") lies outside the \(start) bytes before the central directory")
                }
                let room = dataLimit - v.localOffset - UInt64(localHeaderSize)
                guard v.compressed <= room else {
                    throw bad("\(member): compressed size \(v.compressed)\(v.zip64Compressed ? " (zip64)" : "") runs past the central directory (at most \(room) bytes fit after its local header)")
                }
                if r.u16(10) == 0 {
                    guard v.uncompressed <= room else {
                        throw bad("\(member): size \(v.uncompressed)\(v.zip64Uncompressed ? " (zip64)" : "") of a stored member runs past the central directory (at most \(room) bytes fit after its local header)")
                    }
                } else {
                    guard v.uncompressed <= UInt64(Int.max) else {
                        throw bad("\(member): uncompressed size \(v.uncompressed) (zip64) is more than \(Int.max) bytes")
                    }
                }
                records.append(Record(flags: UInt16(r.u16(8)), name: name, localHeaderOffset: Int(v.localOffset)))
                at = nameStart + nameLength + extraLength + commentLength
            }
            return records
        }
        return ZipDirectory(count: total, records: records)
    }

    /// The local header offset and sizes ZIPFoundation 0.9.20 takes from a central
    /// directory record (`effectiveRelativeOffsetOfLocalHeader`, `...CompressedSize`,
    /// `...UncompressedSize`): from the zip64 extended information field when the
    /// record is zip64 and the field gives a non-zero value, else the 32-bit field.
    private static func effectiveValues(_ r: Fields, extra: UnsafeRawBufferPointer)
        -> (localOffset: UInt64, compressed: UInt64, uncompressed: UInt64,
            zip64Offset: Bool, zip64Compressed: Bool, zip64Uncompressed: Bool) {
        let (compressed, uncompressed, offset, disk) = (r.u32(20), r.u32(24), r.u32(42), r.u16(34))
        // The values a zip64 field holds: those whose 32-bit field is all ones, in this order.
        let present = [uncompressed == 0xFFFF_FFFF, compressed == 0xFFFF_FFFF, offset == 0xFFFF_FFFF, disk == 0xFFFF]
        let sizes = [8, 8, 8, 4]
        var zip64: [UInt64]? // uncompressed, compressed, offset
        var at = 0
        // ZIPFoundation's scan: headers while `at < count - 4`; the first zip64 field
        // (id 1) counts only when its size is exactly that of the values present.
        while at < extra.count - 4 {
            let f = Fields(extra, at: at)
            let (id, length) = (f.u16(0), f.u16(2))
            let next = at + 4 + length
            guard next <= extra.count else { break }
            if id == 1 {
                guard zip(present, sizes).reduce(0, { $0 + ($1.0 ? $1.1 : 0) }) == length else { break }
                var read = at + 4
                var values: [UInt64] = []
                for (p, s) in zip(present, sizes).prefix(3) {
                    if p { values.append(Fields(extra, at: read).u64(0)); read += s } else { values.append(0) }
                }
                zip64 = values
                break
            }
            at = next
        }
        let isZIP64 = r.u16(6) & 0xFF >= 45 || zip64 != nil
        func pick(_ i: Int, _ small: Int) -> (UInt64, Bool) {
            if isZIP64, let v = zip64?[i], v > 0 { return (v, true) }
            return (UInt64(small), false)
        }
        let (u, uz) = pick(0, uncompressed), (c, cz) = pick(1, compressed), (o, oz) = pick(2, offset)
        return (o, c, u, oz, cz, uz)
    }

    /// Little-endian fields of a record starting at `at` in `bytes` (which must hold them).
    private struct Fields {
        let bytes: UnsafeRawBufferPointer
        let at: Int
        init(_ bytes: UnsafeRawBufferPointer, at: Int) { (self.bytes, self.at) = (bytes, at) }
        func u16(_ o: Int) -> Int { Int(bytes[at + o]) | Int(bytes[at + o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        func u64(_ o: Int) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }
        func signature(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> Bool {
            bytes[at] == a && bytes[at + 1] == b && bytes[at + 2] == c && bytes[at + 3] == d
        }
    }
}
