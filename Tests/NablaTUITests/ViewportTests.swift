import Testing
import NablaCore
@testable import NablaTUI

@Suite("Zoom and pan")
struct ViewportTests {
    @Test("fit pools large maps into the panel")
    func fitPools() {
        let v = Viewport(n: 384, pixelsWide: 54, pixelsTall: 72, zoom: 0)
        #expect(v.blocksPerPixel == 8)          // ceil(384 / 54)
        #expect(v.pixelsPerBlock == 1)
        #expect(v.visibleRows == 384 && v.visibleColumns == 384)
        #expect(v.drawnWidth == 48 && v.drawnHeight == 48)
        #expect(v.blocks(pixel: 0, from: 0) == 0..<8)
        #expect(v.blocks(pixel: 47, from: 0) == 376..<384)
    }

    @Test("fit magnifies small maps")
    func fitMagnifies() {
        let v = Viewport(n: 16, pixelsWide: 54, pixelsTall: 72, zoom: 3)
        #expect(v.zoom == 0 && v.maxZoom == 0)
        #expect(v.pixelsPerBlock == 3 && v.blocksPerPixel == 1)
        #expect(v.drawnWidth == 48)
        #expect(v.blocks(pixel: 5, from: 0) == 1..<2)
        #expect(v.pixelColumn(key: 15) == 45)
    }

    @Test("zooming halves the blocks per pixel down to one block per pixel")
    func zoomLevels() {
        let levels = (0...6).map { Viewport(n: 1536, pixelsWide: 60, pixelsTall: 60, zoom: $0).blocksPerPixel }
        #expect(levels == [26, 13, 7, 4, 2, 1, 1])
        #expect(Viewport(n: 1536, pixelsWide: 60, pixelsTall: 60, zoom: 0).maxZoom == 5)
        let deepest = Viewport(n: 1536, pixelsWide: 60, pixelsTall: 40, zoom: 99)
        #expect(deepest.zoom == deepest.maxZoom && deepest.blocksPerPixel == 1)
        #expect(deepest.visibleColumns == 60 && deepest.visibleRows == 40)
    }

    @Test("pan clamps to the map")
    func clamps() {
        let v = Viewport(n: 100, pixelsWide: 30, pixelsTall: 20, zoom: 9, origin: BlockPair(query: 95, key: -5))
        #expect(v.blocksPerPixel == 1)
        #expect(v.origin == BlockPair(query: 80, key: 0))
        #expect(v.with(origin: BlockPair(query: 1000, key: 1000)).origin == BlockPair(query: 80, key: 70))
    }

    @Test("the view follows the cursor and keeps it visible")
    func follows() {
        let v = Viewport(n: 100, pixelsWide: 30, pixelsTall: 20, zoom: 9)
        for cursor in [BlockPair(query: 50, key: 50), BlockPair(query: 99, key: 0), BlockPair(query: 0, key: 99)] {
            let moved = v.with(origin: v.following(cursor))
            #expect(moved.shows(cursor))
            #expect(v.with(origin: v.centred(on: cursor)).shows(cursor))
        }
        // Moving within the view does not pan.
        #expect(v.following(BlockPair(query: 10, key: 10)) == v.origin)
        // Pooled views snap to whole pixels.
        let pooled = Viewport(n: 1000, pixelsWide: 50, pixelsTall: 50, zoom: 2)
        #expect(pooled.blocksPerPixel == 5)
        let o = pooled.following(BlockPair(query: 600, key: 3))
        #expect(o.query % 5 == 0 && pooled.with(origin: o).shows(BlockPair(query: 600, key: 3)))
    }

    @Test("in the app, zooming and moving keep the cursor on screen", arguments: ["++++", "++++LLLLJJJJ", "++llllllllll", "+++KKKK0"])
    func appCursor(keys: String) throws {
        var app = TestApp.make(size: Size(width: 60, height: 16), block: .init(bt: 1, bh: 4, bw: 4))
        try app.keys(keys)
        let view = try #require(app.state.viewport)
        #expect(view.shows(app.state.cursor))
    }

    @Test("cycling the block shapes (b, and B back) keeps the cursor on the same tokens and returns it to its blocks",
          arguments: [BlockPair(query: 0, key: 0), BlockPair(query: 5, key: 9), BlockPair(query: 13, key: 2), BlockPair(query: 15, key: 15)])
    func blockCycleKeepsCursor(start: BlockPair) throws {
        var app = TestApp.make()
        let first = try #require(app.state.map?.blocks)
        app.state.cursor = start
        let query = AppState.centre(of: start.query, in: first), key = AppState.centre(of: start.key, in: first)
        for keys in ["b", "B"] {
            var seen = 0
            repeat {
                try app.keys(keys)
                let blocks = try #require(app.state.map?.blocks)
                // Every shape on the way holds the first centre tokens in the cursor's blocks.
                #expect(AppState.block(holding: query, in: blocks) == app.state.cursor.query, "\(blocks.block)")
                #expect(AppState.block(holding: key, in: blocks) == app.state.cursor.key, "\(blocks.block)")
                seen += 1
            } while app.state.map?.blocks.block != first.block && seen < 10
            #expect(seen > 1 && app.state.cursor == start, "\(keys): back at \(app.state.cursor) after \(seen) shapes")
        }
        // Moving the cursor takes the tokens anew from its new blocks.
        try app.keys("jb")
        let blocks = try #require(app.state.map?.blocks)
        let moved = AppState.centre(of: min(start.query + 1, first.count - 1), in: first)
        #expect(app.state.cursor.query == AppState.block(holding: moved, in: blocks))
    }

    @Test("a click selects the block under it; the wheel zooms")
    func mouse() throws {
        var app = TestApp.make(size: Size(width: 60, height: 16), block: .init(bt: 1, bh: 4, bw: 4))
        let layout = ScreenLayout(state: app.state, size: app.state.size)
        let view = try #require(app.state.viewport)
        app.send(.mouse(MouseEvent(.press, x: layout.mapArea.x + 3, y: layout.mapArea.y + 2)))
        #expect(app.state.cursor == BlockPair(query: view.blocks(pixel: 4, from: 0).lowerBound,
                                              key: view.blocks(pixel: 3, from: 0).lowerBound))
        app.send(.mouse(MouseEvent(.wheelUp, x: 0, y: 0)))
        #expect(app.state.zoom == 1)
        app.send(.mouse(MouseEvent(.wheelDown, x: 0, y: 0)))
        #expect(app.state.zoom == 0)
        try app.keys("o")
        let thumbs = ScreenLayout.thumbnails(heads: 3, in: layout.overviewArea, pixelRowsPerCell: 2, cellsPerPixel: 1)
        app.send(.mouse(MouseEvent(.press, x: thumbs[2].pixels.x, y: thumbs[2].pixels.y)))
        #expect(app.state.head == 2)
    }

    @Test("with the mouse off, mouse events do nothing")
    func mouseOff() {
        var app = TestApp.make()
        app.state.mouseEnabled = false
        app.send(.mouse(MouseEvent(.wheelUp, x: 0, y: 0)))
        #expect(app.state.zoom == 0)
    }
}

@Suite("Axis labels and the cursor marker")
struct AxisMarkerTests {
    /// The ruler row (the map panel's second row, left of the side panel).
    func ruler(_ app: HeadlessApp) -> String {
        String(app.screen.lines[1].prefix(ScreenLayout(state: app.state, size: app.state.size).mapArea.maxX))
    }

    @Test("the marker never stands in for a digit of a frame number, at any cursor column",
          arguments: [Size(width: 120, height: 40), Size(width: 80, height: 24)])
    func markerNotADigit(size: Size) throws {
        // 16 frames, so that frame numbers have two digits.
        let input = TestApp.input(grid: TokenGrid(t: 16, h: 16, w: 24), heads: 1)
        var app = TestApp.make(size: size, block: BlockShape(bt: 1, bh: 4, bw: 4), input: input)
        try app.keys("+")
        let n = try #require(app.state.map?.n)
        var checked = 0
        for _ in 0..<n {
            let row = Array(ruler(app))
            guard let m = row.firstIndex(of: "▼") else { try app.keys("l"); continue }
            checked += 1
            // Every number on the ruler is whole and names the frame that starts in the pixel of
            // the tick (or marker) just before it.
            let view = try #require(app.state.viewport)
            let map = try #require(app.state.map)
            let layout = ScreenLayout(state: app.state, size: app.state.size)
            var i = 0
            while i < row.count {
                guard row[i].isNumber else { i += 1; continue }
                var j = i
                while j < row.count && row[j].isNumber { j += 1 }
                let label = Int(String(row[i..<j]))!
                #expect(row[i - 1] == "┬" || row[i - 1] == "▼", "\(String(row)): \(label) does not start at a tick")
                let pixel = (i - 1 - layout.ruler.x) / layout.cellsPerPixel
                // The frame that starts within the pixel's blocks.
                let first = view.origin.key + pixel * view.blocksPerPixel, perFrame = map.blocks.blocksPerSlab
                let frame = (first + perFrame - 1) / perFrame
                #expect(label == frame, "\(String(row)): label \(label) at pixel \(pixel) of frame \(frame), marker at \(m)")
                i = j
            }
            try app.keys("l")
        }
        #expect(checked > 10)
    }
}
