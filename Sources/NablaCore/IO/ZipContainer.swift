import Foundation
import ZIPFoundation

/// A ZIP archive (a `torch.save` file or an `.npz`) whose central directory is read
/// with ZIPFoundation; members' bytes are read when asked for.
///
/// Members stored without compression (what `torch.save` and `np.savez` write) are read
/// from the file (`ByteSource`, into memory nabla owns, as a `.npy` file's data is), so
/// listing an archive reads its directory and headers, not its tensors; deflated members
/// (`np.savez_compressed`) are inflated into memory, never past a bound the caller gives
/// (what the member's contents need), so a zip bomb stops at that bound, and not at all
/// beyond `maxInflateRatio`. Every member's CRC-32 is checked when its data are read
/// (not at open); an encrypted member is refused. Limits: docs/robustness.md.
final class ZipContainer: @unchecked Sendable {
    /// One member: its name, sizes, and where its bytes lie in the mapped file when it is
    /// stored uncompressed.
    struct Member {
        let path: String
        let entry: Entry
        let isCompressed: Bool
        let uncompressedSize: Int
        /// Bytes the member takes in the file (its size when stored).
        let compressedSize: Int
        /// The member's bytes in the file (stored members only).
        let storedRange: Range<Int>?
        /// The CRC-32 the central directory records for the member's (inflated) bytes.
        let crc: UInt32
        /// Its index in `members`.
        let index: Int
    }

    /// A deflated member may inflate to at most this many times its compressed size ...
    static let maxInflateRatio = 256
    /// ... once it declares more than this many bytes (below, any ratio is accepted:
    /// the memory it can take is small). Deflate itself reaches about 1032:1 on
    /// constant data; real tensors compress far less.
    static let ratioFreeSize = 16 << 20
    /// Stored members are CRC-checked in chunks of this many bytes when only part of
    /// one is read (a torch.save storage shared by several tensors).
    static let verifyChunk = 32 << 20

    let path: String
    /// Where stored members' bytes are read from.
    let source: ByteSource
    private let archive: Archive
    /// In archive order.
    let members: [Member]
    private let byPath: [String: Int]
    /// Members whose stored bytes have passed their CRC-32 check.
    private var verified: Set<Int> = []
    private let lock = NSLock()

    /// Opens the ZIP archive at `path`, opened as `source`.
    /// - Throws: `NablaError.malformedFile` when a value of the end records or the
    ///   central directory lies outside the file (`ZipDirectory`), ZIPFoundation cannot
    ///   read the directory (a truncated or corrupt archive), or two members share a name;
    ///   `.unsupported` when a member is encrypted (general purpose flag bit 0).
    init(path: String, source: ByteSource) throws {
        self.path = path
        self.source = source
        // Every value ZIPFoundation takes from the directory is range-checked first: it
        // traps on offsets of 2^63 and more, and overflows on huge sizes.
        let directory = try ZipDirectory.read(source)
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw NablaError(.malformedFile, "\(path): not a readable ZIP archive (truncated or corrupt: \(error))")
        }
        self.archive = archive
        var members: [Member] = []
        var byPath: [String: Int] = [:]
        var listed = 0
        for entry in archive {
            listed += 1
            guard entry.type == .file else { continue }
            guard let size = Int(exactly: entry.uncompressedSize), size >= 0,
                  let compressed = Int(exactly: entry.compressedSize), compressed >= 0 else {
                throw NablaError(.malformedFile, "\(path): member '\(TensorIO.shown(entry.path))' declares \(entry.uncompressedSize) bytes (\(entry.compressedSize) compressed)")
            }

            // ZIPFoundation lists the records in directory order, stopping at the first it
            // cannot read: entry `listed - 1` is record `listed - 1`.
            guard listed <= directory.records.count else {
                throw NablaError(.malformedFile, "\(path): ZIPFoundation lists more members than the \(directory.count) of the central directory (corrupt archive)")
            }
            let record = directory.records[listed - 1]
            let stored = entry.isCompressed ? nil : try Self.storedRange(of: entry, size: size, at: record.localHeaderOffset, in: source)
            if !entry.isCompressed && stored == nil {
                throw NablaError(.malformedFile, "\(path): member '\(TensorIO.shown(entry.path))' runs past the end of the file or its local header is corrupt")
            }
            guard byPath[entry.path] == nil else {
                throw NablaError(.malformedFile, "\(path): two members are named '\(TensorIO.shown(entry.path))'")
            }
            byPath[entry.path] = members.count
            members.append(Member(path: entry.path, entry: entry, isCompressed: entry.isCompressed,
                                  uncompressedSize: size, compressedSize: compressed, storedRange: stored,
                                  crc: entry.checksum, index: members.count))
        }
        // ZIPFoundation ends its listing at the first record it cannot make an entry of
        // (an encrypted member among them), silently: every member after it would be
        // "missing". The directory's own count says whether that happened.
        if listed < directory.count {
            let record = directory.records[listed]
            if record.flags & 1 != 0 {
                throw NablaError(.unsupported, "\(path): member '\(TensorIO.shown(record.name))' is encrypted; nabla reads unencrypted archives only")
            }
            throw NablaError(.malformedFile, "\(path): the central directory lists \(directory.count) members, but member \(listed + 1) ('\(TensorIO.shown(record.name))') cannot be read (corrupt archive)")
        }
        self.members = members
        self.byPath = byPath
    }

    func member(_ path: String) -> Member? {
        byPath[path].map { members[$0] }
    }

    /// The bytes of `member`: read from the file when it is stored (counted on
    /// `progress` as the data of `tensor`), else inflated.
    /// - Parameter limit: the most bytes the caller can use; a member that declares or
    ///   inflates to more is refused before more than `limit + 1` bytes are produced.
    /// - Returns: the bytes and the object that keeps them alive.
    /// - Throws: `NablaError.tooLarge` when inflating would need more memory than is
    ///   available (`MaskMemory.available`, which `NABLA_MEMORY_LIMIT` overrides); `.malformedFile` naming the member when it declares or
    ///   inflates past `limit`, declares more than `maxInflateRatio` times its
    ///   compressed size (beyond `ratioFreeSize`), inflates to another size than it
    ///   declares, fails its CRC-32 (stored members too), or cannot be inflated.
    /// - Complexity: O(member bytes): read (stored) or inflated, and CRC-checked.
    func bytes(of member: Member, limit: Int, progress: ReadProgress? = nil, tensor: String? = nil,
               available: (bytes: Int, source: String)? = MaskMemory.available()) throws -> (UnsafeRawBufferPointer, AnyObject) {
        let name = "\(path):\(TensorIO.shown(member.path))"
        if let range = member.storedRange {
            let (bytes, owner) = try source.bytes(range, progress: progress, tensor: tensor ?? name)
            try checkCRC(of: member, bytes: bytes)
            return (bytes, owner)
        }
        guard member.uncompressedSize <= limit else {
            throw NablaError(.malformedFile, "\(name): member declares \(member.uncompressedSize) bytes inflated, more than the \(limit) its contents can use")
        }
        // Checked before anything is allocated or inflated: a small file cannot make
        // nabla commit memory far beyond its size (compressedSize 0 counts as 1 byte).
        if member.uncompressedSize > Self.ratioFreeSize,
           member.uncompressedSize / max(member.compressedSize, 1) >= Self.maxInflateRatio {
            throw NablaError(.malformedFile, "\(name): member declares \(member.uncompressedSize) bytes inflated from \(member.compressedSize), a ratio over the \(Self.maxInflateRatio):1 nabla accepts for members over \(MaskMemory.text(Self.ratioFreeSize)) (a zip bomb, or near-constant data: save it uncompressed, np.savez)")
        }
        // Inflating needs the whole member in memory: check before allocating.
        if let available, member.uncompressedSize > available.bytes {
            throw NablaError(.tooLarge, "\(name): inflating this compressed member needs \(MaskMemory.text(member.uncompressedSize)), more than the \(MaskMemory.text(available.bytes)) \(available.source == "available" ? "available" : "of \(available.source)")")
        }
        let box = InflatedBytes(capacity: member.uncompressedSize)
        try inflate(member, name: name, limit: member.uncompressedSize) { chunk in
            box.append(chunk)
            return true
        }
        guard box.count == member.uncompressedSize else {
            throw NablaError(.malformedFile, "\(name): inflates to \(box.count) bytes, but declares \(member.uncompressedSize)")
        }
        return (box.bytes, box)
    }

    /// Inflates a deflated `member` chunk by chunk into `consume`, holding no more than a
    /// chunk: for reading parts of a member that cannot seek (`TensorRegion.stream`). The
    /// whole member is inflated (its CRC-32 is checked at the end).
    /// - Throws: as `bytes(of:limit:)` for a deflated member, and what `consume` throws.
    /// - Complexity: O(member bytes) inflated, O(chunk) memory.
    func stream(_ member: Member, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(member.storedRange == nil, "a stored member is read at its offset")
        let name = "\(path):\(TensorIO.shown(member.path))"
        if member.uncompressedSize > Self.ratioFreeSize,
           member.uncompressedSize / max(member.compressedSize, 1) >= Self.maxInflateRatio {
            throw NablaError(.malformedFile, "\(name): member declares \(member.uncompressedSize) bytes inflated from \(member.compressedSize), a ratio over the \(Self.maxInflateRatio):1 nabla accepts for members over \(MaskMemory.text(Self.ratioFreeSize)) (a zip bomb, or near-constant data: save it uncompressed, np.savez)")
        }
        var produced = 0
        try inflate(member, name: name, limit: member.uncompressedSize) { chunk in
            produced += chunk.count
            try chunk.withUnsafeBytes { try consume($0) }
            return true
        }
        guard produced == member.uncompressedSize else {
            throw NablaError(.malformedFile, "\(name): inflates to \(produced) bytes, but declares \(member.uncompressedSize)")
        }
    }

    /// Checks the CRC-32 of a stored member's `bytes` (all of them) against the one the
    /// archive records, once per member.
    /// - Throws: `NablaError.malformedFile` naming the file and member on a mismatch.
    func checkCRC(of member: Member, bytes: UnsafeRawBufferPointer) throws {
        if lock.withLock({ verified.contains(member.index) }) { return }
        precondition(bytes.count == member.uncompressedSize, "the CRC covers the whole member")
        let crc = CRC32.parallelChecksum(bytes)
        guard crc == member.crc else { throw crcMismatch(member, computed: crc) }
        _ = lock.withLock { verified.insert(member.index) }
    }

    /// Checks the CRC-32 of a stored member of which `bytes` (at `range` of the file)
    /// were read: the rest of the member is read through in chunks of `verifyChunk`
    /// bytes, not kept, and the CRCs combined. Once per member: a storage shared by
    /// several tensors is read through by the first of them only.
    /// - Throws: `NablaError.malformedFile` naming the file and member on a mismatch;
    ///   `.fileUnreadable` when the file cannot be read.
    /// - Complexity: O(member bytes - range) read, `verifyChunk` bytes of memory.
    func checkCRC(of member: Member, part bytes: UnsafeRawBufferPointer, at range: Range<Int>) throws {
        guard let stored = member.storedRange else { return } // inflating checks the CRC
        precondition(stored.lowerBound <= range.lowerBound && range.upperBound <= stored.upperBound && bytes.count == range.count,
                     "a part of the member")
        if lock.withLock({ verified.contains(member.index) }) { return }
        var crc = try streamedCRC(stored.lowerBound..<range.lowerBound)
        crc = CRC32.combine(crc, CRC32.parallelChecksum(bytes), lengthB: bytes.count)
        crc = CRC32.combine(crc, try streamedCRC(range.upperBound..<stored.upperBound), lengthB: stored.upperBound - range.upperBound)
        guard crc == member.crc else { throw crcMismatch(member, computed: crc) }
        _ = lock.withLock { verified.insert(member.index) }
    }

    /// The CRC-32 of bytes `range` of the file, read in chunks of `verifyChunk`.
    private func streamedCRC(_ range: Range<Int>) throws -> UInt32 {
        var crc: UInt32 = 0
        var at = range.lowerBound
        while at < range.upperBound {
            let end = min(at + Self.verifyChunk, range.upperBound)
            let (bytes, owner) = try source.bytes(at..<end)
            crc = withExtendedLifetime(owner) { CRC32.combine(crc, CRC32.parallelChecksum(bytes), lengthB: bytes.count) }
            at = end
        }
        return crc
    }

    private func crcMismatch(_ member: Member, computed: UInt32) -> NablaError {
        func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16, uppercase: true) }
        return NablaError(.malformedFile, "\(path):\(TensorIO.shown(member.path)): CRC-32 mismatch (recorded \(hex(member.crc)), computed \(hex(computed))): the member is corrupt")
    }

    /// The first bytes of `member` (at least `count` when it has them), inflating no
    /// more than needed.
    func prefix(of member: Member, count: Int) throws -> [UInt8] {
        let name = "\(path):\(TensorIO.shown(member.path))"
        if let range = member.storedRange {
            let (bytes, owner) = try source.bytes(range.prefix(count))
            return withExtendedLifetime(owner) { Array(bytes) }
        }
        var out: [UInt8] = []
        try inflate(member, name: name, limit: member.uncompressedSize) { chunk in
            out += chunk
            return out.count < count
        }
        return out
    }

    /// Inflates `member` in chunks, stopping when `consume` returns `false`; refuses to
    /// produce more than `limit` bytes.
    private func inflate(_ member: Member, name: String, limit: Int, _ consume: (Data) throws -> Bool) throws {
        struct Stop: Error {}
        struct TooLarge: Error {}
        var produced = 0
        var stopped = false
        do {
            let crc = try archive.extract(member.entry, bufferSize: 1 << 16, skipCRC32: false) { chunk in
                produced += chunk.count
                guard produced <= limit else { throw TooLarge() }
                if try !consume(chunk) {
                    stopped = true
                    throw Stop()
                }
            }
            guard crc == member.entry.checksum else {
                throw NablaError(.malformedFile, "\(name): CRC-32 mismatch (the member is corrupt)")
            }
        } catch is Stop {
            precondition(stopped)
        } catch is TooLarge {
            throw NablaError(.malformedFile, "\(name): inflates past the \(limit) bytes it declares (a zip bomb or a corrupt member); stopped there")
        } catch let e as NablaError {
            throw e
        } catch {
            throw NablaError(.malformedFile, "\(name): cannot inflate: \(error)")
        }
    }

    /// Where a stored member's data lie in the file: after its local header, at `start`
    /// (from the central directory record, zip64 field included: `ZipDirectory`); the
    /// local header found there is checked (signature, method, name) before the range
    /// is trusted.
    private static func storedRange(of entry: Entry, size: Int, at start: Int, in source: ByteSource) throws -> Range<Int>? {
        let fileSize = source.size
        guard start >= 0, start <= fileSize - 30 else { return nil }
        // The local header alone (30 bytes, then the name), not the member's data.
        let (head, headOwner) = try source.bytes(start..<(start + 30))
        let fields = withExtendedLifetime(headOwner) { () -> (ok: Bool, name: Int, extra: Int) in
            func u16(_ at: Int) -> Int { Int(head[at]) | Int(head[at + 1]) << 8 }
            let ok = head[0] == 0x50 && head[1] == 0x4B && head[2] == 3 && head[3] == 4 && u16(8) == 0
            return (ok, u16(26), u16(28))
        }
        guard fields.ok else { return nil }
        let dataStart = start + 30 + fields.name + fields.extra
        guard dataStart <= fileSize, size <= fileSize - dataStart else { return nil }
        let (name, nameOwner) = try source.bytes((start + 30)..<(start + 30 + fields.name))
        guard withExtendedLifetime(nameOwner, { Array(name) == Array(entry.path.utf8) }) else { return nil }
        return dataStart..<(dataStart + size)
    }
}

/// Inflated member bytes, owned and 64-byte aligned so tensor views of them can be used
/// in place.
final class InflatedBytes {
    private let buffer: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(capacity: Int) {
        buffer = .allocate(byteCount: max(capacity, 1), alignment: 64)
    }

    func append(_ data: Data) {
        precondition(count + data.count <= buffer.count, "inflated past the capacity checked by the caller")
        data.withUnsafeBytes { src in
            UnsafeMutableRawBufferPointer(rebasing: buffer[count..<count + src.count]).copyMemory(from: src)
        }
        count += data.count
    }

    /// Lets `body` write the next `byteCount` bytes.
    func fill(byteCount: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
        precondition(count + byteCount <= buffer.count, "filled past the capacity checked by the caller")
        body(UnsafeMutableRawBufferPointer(rebasing: buffer[count..<count + byteCount]))
        count += byteCount
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[0..<count]) }

    deinit { buffer.deallocate() }
}
