import CompressNIO
import NIOCore

extension Figure {
    /// The figure rasterised at `scale` pixels per unit (`raster(scale:)`, text left out)
    /// as a PNG file's bytes: what `nabla plot --out F.png` and the app's `:plot F.png`
    /// write.
    /// - Throws: `NablaError.writeFailed` when compression fails.
    /// - Complexity: O(covered pixels) to rasterise, then zlib over `height * (1 + 3 width)` bytes.
    public func png(scale: Double = 1) throws -> [UInt8] {
        let image = raster(scale: scale)
        return try PNG.encode(width: image.width, height: image.height, rgb: image.rgb)
    }
}

/// PNG files (RFC 2083; W3C PNG specification, 2nd ed.): 8-bit RGB, no interlace, every
/// scanline with filter type 0, the image data compressed by zlib through compress-nio
/// (adam-fowler/compress-nio, a maintained zlib binding) rather than a compressor of our own.
enum PNG {
    /// `rgb` is `[height, width, 3]` row-major.
    /// - Throws: `NablaError.writeFailed` when compression fails.
    static func encode(width: Int, height: Int, rgb: [UInt8]) throws -> [UInt8] {
        precondition(rgb.count == width * height * 3, "rgb must be [height, width, 3]")
        var raw = ByteBufferAllocator().buffer(capacity: height * (1 + 3 * width))
        for y in 0..<height {
            raw.writeInteger(UInt8(0))
            raw.writeBytes(rgb[(y * width * 3)..<((y + 1) * width * 3)])
        }
        let compressed: ByteBuffer
        do {
            compressed = try raw.compress(with: .zlib())
        } catch {
            throw NablaError(.writeFailed, "PNG: zlib compression failed: \(error)")
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        for v in [UInt32(width), UInt32(height)] { header += bigEndian(v) }
        header += [8, 2, 0, 0, 0]  // bit depth 8, colour type 2 (RGB), deflate, filter 0, no interlace
        chunk("IHDR", header, into: &out)
        chunk("IDAT", Array(compressed.readableBytesView), into: &out)
        chunk("IEND", [], into: &out)
        return out
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)] }

    /// Length, type, data and the CRC-32 of type and data (the PNG specification's CRC).
    static func chunk(_ type: String, _ data: [UInt8], into out: inout [UInt8]) {
        let body = Array(type.utf8) + data
        out += bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    /// CRC-32 with polynomial 0xEDB88320, as the PNG specification's annex D defines it.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}
