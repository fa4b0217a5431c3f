/// The sliding-tile mask on the block grid, `[N, N]`: block pair `(a, b)` is in when
/// `|dt| <= wt/2`, `|di| <= wh/2` and `|dj| <= ww/2` (integer division; windows in blocks,
/// truncated at the borders, shared by all heads). NABLA.md step 4.
/// - Complexity: O(N^2).
public func staPattern(_ blocks: BlockGrid, window: STAWindow) -> [UInt8] {
    let n = blocks.count
    let rt = window.wt / 2, rh = window.wh / 2, rw = window.ww / 2
    var out = [UInt8](repeating: 0, count: n * n)
    out.withUnsafeMutableBufferPointer { o in
        for a in 0..<n {
            let (ta, ia, ja) = blocks.coordinates(of: a)
            let row = o.baseAddress! + a * n
            // Visit only the window around block a, clipped to the grid.
            for t in max(0, ta - rt)...min(blocks.tb - 1, ta + rt) {
                for i in max(0, ia - rh)...min(blocks.hb - 1, ia + rh) {
                    let base = (t * blocks.hb + i) * blocks.wb
                    for j in max(0, ja - rw)...min(blocks.wb - 1, ja + rw) { row[base + j] = 1 }
                }
            }
        }
    }
    return out
}
