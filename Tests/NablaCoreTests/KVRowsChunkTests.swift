import Foundation
import Testing
@testable import NablaCore

/// FlexAttention rows made chunk by chunk (issue 8): the chunks join into the rows a
/// naive loop writes, and the files written from them hold exactly those values.
@Suite("FlexAttention rows in chunks, and the files streamed from them")
struct KVRowsChunkTests {
    static func report(threshold: Double) throws -> MaskReport {
        let input = randomInput(grid: TokenGrid(t: 2, h: 16, w: 16), heads: 3, headDim: 16, seed: 9)
        return try MaskReport(input: input, block: BlockShape(bt: 1, bh: 4, bw: 4), settings: MaskSettings(threshold: threshold))
    }

    /// Row by row, written here: kept key blocks ascending, then the dropped ones.
    static func naive(_ mask: BlockMask) -> (num: [Int32], idx: [Int32]) {
        var num: [Int32] = [], idx: [Int32] = []
        for h in 0..<mask.heads {
            for a in 0..<mask.n {
                let kept = (0..<mask.n).filter { mask.isKept(head: h, query: a, key: $0) }
                let dropped = (0..<mask.n).filter { !mask.isKept(head: h, query: a, key: $0) }
                num.append(Int32(kept.count))
                idx += (kept + dropped).map(Int32.init)
            }
        }
        return (num, idx)
    }

    @Test("chunks of any size join into the naive rows, in order, each within its budget",
          arguments: [(0.6, 1), (0.6, 4 * 128 * 3 + 5), (0.0, 10_000), (1.0, 8 << 20)])
    func chunksJoin(threshold: Double, maxBytes: Int) throws {
        let report = try Self.report(threshold: threshold)
        let mask = report.mask, n = mask.n
        let (num, idx) = Self.naive(mask)
        var joined: [Int32] = []
        var ranges: [Range<Int>] = []
        mask.forEachKVIndicesChunk(maxBytes: maxBytes) { rows, values in
            ranges.append(rows)
            #expect(values.count == rows.count * n)
            joined += values
        }
        #expect(joined == idx)
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == mask.heads * n)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(ranges.allSatisfy { $0.count <= max(1, maxBytes / (4 * n)) })
        #expect(report.kvNumBlocks == num && mask.kvNumBlocks() == num)
        #expect(report.kvIndices == idx)
        #expect(report.times.stages.last?.name == "block_mask")
    }

    @Test("mask.npy and kv_indices.npy, streamed, read back as the naive arrays, with headers numpy writes")
    func streamedFiles() throws {
        let report = try Self.report(threshold: 0.6)
        let dir = try TempDir()
        try report.write(to: dir.file("out"))
        let (num, idx) = Self.naive(report.mask)
        let h = report.heads, n = report.blocks.count
        let mask = try NPY.read(path: dir.file("out/mask.npy"))
        #expect(mask.dtype == .uint8 && mask.shape == [h, n, n])
        #expect(mask.int64s() == report.mask.kept.map(Int64.init))
        let indices = try NPY.read(path: dir.file("out/kv_indices.npy"))
        #expect(indices.dtype == .int32 && indices.shape == [h, n, n])
        #expect(indices.int64s() == idx.map(Int64.init))
        #expect(try NPY.read(path: dir.file("out/kv_num_blocks.npy")).int64s() == num.map(Int64.init))
        // The header as numpy 1.x/2.x writes it (version 1.0, padded to 64 bytes).
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.file("out/kv_indices.npy")))
        let header = "{'descr': '<i4', 'fortran_order': False, 'shape': (\(h), \(n), \(n)), }"
        #expect(bytes.count == 128 + 4 * h * n * n)
        #expect(String(decoding: bytes[10..<(10 + header.utf8.count)], as: UTF8.self) == header)
        #expect(bytes[127] == 0x0A)
    }
}
