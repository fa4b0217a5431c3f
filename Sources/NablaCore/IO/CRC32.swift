/// CRC-32 as ZIP records it (ISO-HDLC: reflected polynomial 0xEDB88320, initial value
/// and final XOR 0xFFFFFFFF; the CRC of "123456789" is 0xCBF43926), computed eight bytes
/// a step with eight tables ("slicing-by-8"), and in parallel over large buffers by
/// combining the CRCs of chunks.
enum CRC32 {
    /// `tables[k * 256 + b]`: the CRC contribution of byte `b` followed by `k` zero bytes.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for b in 0..<256 {
            var c = UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
            t[b] = c
        }
        for k in 1..<8 {
            for b in 0..<256 {
                let prev = t[(k - 1) * 256 + b]
                t[k * 256 + b] = (prev >> 8) ^ t[Int(prev & 0xFF)]
            }
        }
        return t
    }()

    /// The CRC of `bytes` following bytes whose CRC was `crc` (0 for none), as zlib's
    /// `crc32(crc, bytes, count)`.
    /// - Complexity: O(bytes.count), one pass.
    static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        let n = bytes.count
        return tables.withUnsafeBufferPointer { tables -> UInt32 in
            // Locals of the closure, not captured variables, so they stay in registers.
            let t = tables.baseAddress!
            var c = ~crc
            var i = 0
            while i + 8 <= n {
                let one = UInt32(littleEndian: (base + i).loadUnaligned(as: UInt32.self)) ^ c
                let two = UInt32(littleEndian: (base + i + 4).loadUnaligned(as: UInt32.self))
                c = t[7 * 256 + Int(one & 0xFF)] ^ t[6 * 256 + Int((one >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((one >> 16) & 0xFF)] ^ t[4 * 256 + Int(one >> 24)]
                    ^ t[3 * 256 + Int(two & 0xFF)] ^ t[2 * 256 + Int((two >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((two >> 16) & 0xFF)] ^ t[Int(two >> 24)]
                i += 8
            }
            while i < n {
                c = (c >> 8) ^ t[Int((c ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)]
                i += 1
            }
            return ~c
        }
    }

    /// `a * b` modulo the CRC polynomial, in the reflected bit order of the CRC (bit 31
    /// is x^0).
    private static func multiply(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var product: UInt32 = 0
        var b = b
        var m: UInt32 = 1 << 31
        while m != 0 {
            if a & m != 0 { product ^= b }
            b = b & 1 != 0 ? (b >> 1) ^ 0xEDB8_8320 : b >> 1
            m >>= 1
        }
        return product
    }

    /// The CRC of `A` followed by `B`, from `crcA`, `crcB` and `B`'s length in bytes:
    /// `crcA` times x^(8 * lengthB), plus `crcB` (zlib's `crc32_combine`).
    /// - Complexity: O(log lengthB).
    static func combine(_ crcA: UInt32, _ crcB: UInt32, lengthB: Int) -> UInt32 {
        var power: UInt32 = 1 << 31 // x^0
        var square: UInt32 = 1 << 23 // x^8: one byte
        var n = lengthB
        while n > 0 {
            if n & 1 != 0 { power = multiply(power, square) }
            square = multiply(square, square)
            n >>= 1
        }
        return multiply(power, crcA) ^ crcB
    }

    /// The CRC of `bytes`, computed in chunks on all cores when it is large.
    /// - Complexity: O(bytes.count) work, divided among the cores.
    static func parallelChecksum(_ bytes: UnsafeRawBufferPointer, chunk: Int = 8 << 20) -> UInt32 {
        let chunks = (bytes.count + chunk - 1) / chunk
        guard chunks > 1 else { return checksum(bytes) }
        let parts = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: chunks)
        defer { parts.deallocate() }
        let out = UncheckedSendable(parts)
        let source = UncheckedSendable(bytes)
        Parallel.forEach(chunks) { i in
            let start = i * chunk, end = min(start + chunk, source.value.count)
            out.value[i] = checksum(UnsafeRawBufferPointer(rebasing: source.value[start..<end]))
        }
        var crc = parts[0]
        for i in 1..<chunks {
            crc = combine(crc, parts[i], lengthB: min(chunk, bytes.count - i * chunk))
        }
        return crc
    }
}
