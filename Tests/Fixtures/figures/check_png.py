"""Reads a PNG with the standard library only (struct, zlib): checks the signature, every
chunk's CRC, 8-bit RGB or RGBA, the inflated size and a valid filter type (0-4) on every
scanline; prints width, height and the number of distinct byte values."""
import sys, struct, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n'
pos, idat, size = 8, b'', None
while pos < len(data):
    n, = struct.unpack('>I', data[pos:pos+4]); kind = data[pos+4:pos+8]; body = data[pos+8:pos+8+n]
    crc, = struct.unpack('>I', data[pos+8+n:pos+12+n])
    assert zlib.crc32(kind + body) & 0xffffffff == crc, kind
    if kind == b'IHDR': size = struct.unpack('>IIBBBBB', body)
    if kind == b'IDAT': idat += body
    pos += 12 + n
w, h, depth, color = size[:4]
bpp = {2: 3, 6: 4}[color]
raw = zlib.decompress(idat)
assert depth == 8 and len(raw) == h * (1 + bpp * w), (len(raw), w, h)
assert all(raw[y * (1 + bpp * w)] <= 4 for y in range(h))
print(w, h, len(set(raw)))
