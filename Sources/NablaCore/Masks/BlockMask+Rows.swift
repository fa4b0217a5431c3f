/// FlexAttention `BlockMask.from_kv_blocks` rows (NABLA.md step 5), made from the mask
/// row by row so that the `[heads, N, N]` int32 array need never exist whole: at
/// N = 5040 and 8 heads it is 813 MB, four times the mask itself.
///
/// Layout: rows are numbered `r = h * N + a` (head `h`, query block `a`);
/// `kv_num_blocks[r]` is the kept count of row `r`; `kv_indices[r, :]` lists the kept key
/// blocks ascending, then the dropped ones ascending (what `from_kv_blocks` reads past
/// the count is never used, and ascending fill matches the reference,
/// `/work/shared/reference/nabla_ref.py`).
extension BlockMask {
    /// `kv_num_blocks`, `[heads, N]`: the kept count of every row.
    /// - Complexity: O(heads * N^2), rows in parallel.
    public func kvNumBlocks() -> [Int32] {
        let n = self.n, rows = heads * n
        var num = [Int32](repeating: 0, count: rows)
        kept.withUnsafeBufferPointer { m in
            num.withUnsafeMutableBufferPointer { out in
                let chunks = Parallel.chunks(rows, minChunk: 16)
                let base = UncheckedSendable(out.baseAddress!)
                Parallel.forEach(chunks.count) { c in
                    for r in chunks[c] {
                        let row = m.baseAddress! + r * n
                        var count = 0
                        for b in 0..<n { count &+= Int(row[b] & 1) }
                        base.value[r] = Int32(truncatingIfNeeded: count)
                    }
                }
            }
        }
        return num
    }

    /// Writes `kv_indices` rows `rows` (flat row numbers `h * N + a`) into `out`, which
    /// holds `rows.count * N` values, the rows split across the cores.
    /// - Complexity: O(rows.count * N).
    public func kvIndices(rows: Range<Int>, into out: UnsafeMutablePointer<Int32>) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= heads * n, "rows outside the mask")
        let n = self.n
        let chunks = Parallel.chunks(rows.count, minChunk: 16)
        let dst = UncheckedSendable(out)
        kept.withUnsafeBufferPointer { m in
            let mask = UncheckedSendable(m.baseAddress!)
            Parallel.forEach(chunks.count) { c in
                let rest = UnsafeMutablePointer<Int32>.allocate(capacity: max(n, 1))
                defer { rest.deallocate() }
                for i in chunks[c] {
                    let row = mask.value + (rows.lowerBound + i) * n
                    let out = dst.value + i * n
                    // Branch-free compaction: every index is written to both lists, and
                    // only the list it belongs to advances.
                    var kept = 0, dropped = 0
                    for b in 0..<n {
                        let k = Int(row[b] & 1)
                        out[kept] = Int32(truncatingIfNeeded: b)
                        rest[dropped] = Int32(truncatingIfNeeded: b)
                        kept += k
                        dropped += 1 - k
                    }
                    (out + kept).update(from: rest, count: dropped)
                }
            }
        }
    }

    /// Rows per chunk of `forEachKVIndicesChunk`: about `maxBytes` of int32 rows.
    static func rowsPerChunk(n: Int, maxBytes: Int) -> Int { max(1, maxBytes / max(4 * n, 1)) }

    /// Calls `body` with successive chunks of `kv_indices` rows in order (their flat row
    /// range and `range.count * N` values), each computed on all cores into one reused
    /// buffer of about `maxBytes`, so the whole array is never held. Returns the time
    /// spent computing rows, in milliseconds, summed over the chunks (`body`'s time,
    /// writing a file for instance, is not counted).
    /// - Throws: whatever `body` throws (the remaining rows are not computed).
    /// - Complexity: O(heads * N^2) time, O(maxBytes) memory.
    @discardableResult
    public func forEachKVIndicesChunk(maxBytes: Int = 8 << 20,
                                      _ body: (Range<Int>, UnsafeBufferPointer<Int32>) throws -> Void) rethrows -> Double {
        let total = heads * n
        guard total > 0 else { return 0 }
        let per = Self.rowsPerChunk(n: n, maxBytes: maxBytes)
        let buffer = UnsafeMutablePointer<Int32>.allocate(capacity: min(per, total) * n)
        defer { buffer.deallocate() }
        var computing = 0.0
        for start in stride(from: 0, to: total, by: per) {
            let rows = start..<min(start + per, total)
            let began = ContinuousClock.now
            kvIndices(rows: rows, into: buffer)
            computing += milliseconds(since: began)
            try body(rows, UnsafeBufferPointer(start: buffer, count: rows.count * n))
        }
        return computing
    }

    /// Both arrays whole: `numBlocks` `[heads, N]` and `indices` `[heads, N, N]` (for
    /// tests and small masks; the file writer streams `forEachKVIndicesChunk`).
    /// - Complexity: O(heads * N^2) time and memory.
    public func kvRows() -> (numBlocks: [Int32], indices: [Int32]) {
        let count = heads * n * n
        let indices = [Int32](unsafeUninitializedCapacity: count) { out, initialized in
            if count > 0 { kvIndices(rows: 0..<(heads * n), into: out.baseAddress!) }
            initialized = count
        }
        return (kvNumBlocks(), indices)
    }
}
