/// Which part of the `N x N` block map a panel of pixels shows, and at what scale.
///
/// A pixel is half a character cell when the map is drawn with half blocks (so pixels
/// are square) and a whole cell otherwise. At zoom level 0 the whole map fits: either
/// several blocks per pixel (`blocksPerPixel > 1`, pooled: a pixel shows the share of
/// kept blocks), or, for small maps, several pixels per block (`pixelsPerBlock > 1`).
/// Each zoom level halves the blocks per pixel, down to one block per pixel.
public struct Viewport: Equatable, Sendable {
    /// Blocks per side of the map.
    public let n: Int
    /// Pixels available across and down.
    public let pixelsWide: Int
    public let pixelsTall: Int
    public let zoom: Int
    public let blocksPerPixel: Int
    public let pixelsPerBlock: Int
    /// The first query block (row) and key block (column) shown.
    public let origin: BlockPair

    /// - Parameters:
    ///   - zoom: the requested level, clamped to `0...maxZoom`.
    ///   - origin: the requested top-left block, clamped so the view stays on the map.
    public init(n: Int, pixelsWide: Int, pixelsTall: Int, zoom: Int, origin: BlockPair = BlockPair(query: 0, key: 0)) {
        self.n = max(n, 1)
        self.pixelsWide = max(pixelsWide, 1)
        self.pixelsTall = max(pixelsTall, 1)
        let fit = Viewport.fitScale(n: self.n, side: min(self.pixelsWide, self.pixelsTall))
        let maxZoom = Viewport.levels(fitBlocksPerPixel: fit.blocksPerPixel)
        let z = min(max(zoom, 0), maxZoom)
        self.zoom = z
        self.pixelsPerBlock = z == 0 ? fit.pixelsPerBlock : 1
        self.blocksPerPixel = Viewport.blocksPerPixel(fit: fit.blocksPerPixel, zoom: z)
        let rows = Viewport.visible(n: self.n, pixels: self.pixelsTall, k: blocksPerPixel, m: pixelsPerBlock)
        let cols = Viewport.visible(n: self.n, pixels: self.pixelsWide, k: blocksPerPixel, m: pixelsPerBlock)
        self.origin = BlockPair(query: min(max(origin.query, 0), self.n - rows),
                                key: min(max(origin.key, 0), self.n - cols))
    }

    /// The scale that shows all `n` blocks on a square of `side` pixels.
    static func fitScale(n: Int, side: Int) -> (blocksPerPixel: Int, pixelsPerBlock: Int) {
        if n <= side { return (1, max(1, side / n)) }
        return ((n + side - 1) / side, 1)
    }

    /// The deepest zoom level: halvings of the fit's blocks per pixel until one is left.
    static func levels(fitBlocksPerPixel k: Int) -> Int {
        var level = 0
        while blocksPerPixel(fit: k, zoom: level) > 1 { level += 1 }
        return level
    }

    static func blocksPerPixel(fit k: Int, zoom: Int) -> Int {
        max(1, (k + (1 << zoom) - 1) >> zoom)
    }

    static func visible(n: Int, pixels: Int, k: Int, m: Int) -> Int {
        min(n, m > 1 ? pixels / m : pixels * k)
    }

    /// The deepest zoom level for this map and panel.
    public var maxZoom: Int {
        Viewport.levels(fitBlocksPerPixel: Viewport.fitScale(n: n, side: min(pixelsWide, pixelsTall)).blocksPerPixel)
    }

    /// Query blocks shown (rows) and key blocks shown (columns).
    public var visibleRows: Int { Viewport.visible(n: n, pixels: pixelsTall, k: blocksPerPixel, m: pixelsPerBlock) }
    public var visibleColumns: Int { Viewport.visible(n: n, pixels: pixelsWide, k: blocksPerPixel, m: pixelsPerBlock) }

    /// Pixels the shown blocks take across and down.
    public var drawnWidth: Int { pixels(forBlocks: visibleColumns) }
    public var drawnHeight: Int { pixels(forBlocks: visibleRows) }

    func pixels(forBlocks count: Int) -> Int {
        pixelsPerBlock > 1 ? count * pixelsPerBlock : (count + blocksPerPixel - 1) / blocksPerPixel
    }

    /// The blocks pixel `p` covers along an axis starting at block `start`.
    public func blocks(pixel p: Int, from start: Int) -> Range<Int> {
        if pixelsPerBlock > 1 {
            let b = start + p / pixelsPerBlock
            return b..<min(b + 1, n)
        }
        let lo = start + p * blocksPerPixel
        return min(lo, n)..<min(lo + blocksPerPixel, n)
    }

    /// The pixel showing block `b` along an axis starting at `start`, or `nil` if out of view.
    public func pixel(block b: Int, from start: Int, visible: Int) -> Int? {
        guard b >= start, b < start + visible else { return nil }
        return pixelsPerBlock > 1 ? (b - start) * pixelsPerBlock : (b - start) / blocksPerPixel
    }

    public func pixelRow(query a: Int) -> Int? { pixel(block: a, from: origin.query, visible: visibleRows) }
    public func pixelColumn(key b: Int) -> Int? { pixel(block: b, from: origin.key, visible: visibleColumns) }

    /// Whether `cursor` is in view.
    public func shows(_ cursor: BlockPair) -> Bool {
        pixelRow(query: cursor.query) != nil && pixelColumn(key: cursor.key) != nil
    }

    /// The origin that shows `cursor` moving the view as little as possible; when the
    /// view is pooled, origins snap to whole pixels so pixel boundaries stay put.
    public func following(_ cursor: BlockPair) -> BlockPair {
        BlockPair(query: follow(origin.query, cursor.query, visibleRows),
                  key: follow(origin.key, cursor.key, visibleColumns))
    }

    private func follow(_ o: Int, _ c: Int, _ visible: Int) -> Int {
        var start = o
        if c < start { start = c } else if c >= start + visible { start = c - visible + 1 }
        if start != o && blocksPerPixel > 1 {
            start = c < o ? (start / blocksPerPixel) * blocksPerPixel
                          : ((start + blocksPerPixel - 1) / blocksPerPixel) * blocksPerPixel
        }
        return min(max(start, 0), max(n - visible, 0))
    }

    /// The origin that puts `cursor` in the middle of the view (clamped to the map).
    public func centred(on cursor: BlockPair) -> BlockPair {
        func centre(_ c: Int, _ visible: Int) -> Int {
            var s = c - visible / 2
            if blocksPerPixel > 1 { s = (s / blocksPerPixel) * blocksPerPixel }
            return min(max(s, 0), max(n - visible, 0))
        }
        return BlockPair(query: centre(cursor.query, visibleRows), key: centre(cursor.key, visibleColumns))
    }

    /// The same view with another origin (clamped).
    public func with(origin: BlockPair) -> Viewport {
        Viewport(n: n, pixelsWide: pixelsWide, pixelsTall: pixelsTall, zoom: zoom, origin: origin)
    }

    /// A short text of the scale: `4 blocks/px`, `1 block/px` or `3 px/block`.
    public var scaleText: String {
        if pixelsPerBlock > 1 { return "\(pixelsPerBlock) px/block" }
        return blocksPerPixel == 1 ? "1 block/px" : "\(blocksPerPixel) blocks/px"
    }
}
