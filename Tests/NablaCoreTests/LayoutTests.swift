import Testing
@testable import NablaCore

@Suite("token grids, block shapes and orders")
struct LayoutTests {
    @Test("parsing grids, blocks and windows")
    func parsing() throws {
        #expect(try TokenGrid(parsing: "21x40x80") == TokenGrid(t: 21, h: 40, w: 80))
        #expect(try BlockShape(parsing: "2X8x8") == BlockShape(bt: 2, bh: 8, bw: 8))
        #expect(try STAWindow(parsing: "11x3x3") == .kandinsky)
        for bad in ["", "8x8", "1x8x8x8", "0x8x8", "-1x8x8", "ax8x8", "1.5x8x8"] {
            let error = #expect(throws: NablaError.self) { try BlockShape(parsing: bad) }
            #expect(error?.message.contains("'\(bad)'") == true)
        }
    }

    @Test("a grid the block does not divide: ceiling (pad) or floor (crop), said in one line")
    func notDivisible() throws {
        let grid = TokenGrid(t: 3, h: 20, w: 16)
        let pad = try BlockGrid(grid: grid, block: .nabla)
        #expect(pad.description == "3x3x2" && pad.tokens(inBlock: 4) == 32 && pad.offset(ofBlock: 5) == 288)
        let crop = try BlockGrid(grid: grid, block: .nabla, edge: .crop)
        #expect(crop.description == "3x2x2" && crop.droppedTokens == 3 * 4 * 16)
        #expect(crop.edgeText == "edge crop: block 1x8x8 does not divide grid 3x20x16; kept 3x16x16 (768 tokens), dropped 192 tokens: rows 16..<20 of every frame")
    }

    /// Block order written naively for the test: visit blocks raster, tokens raster inside.
    static func naiveBlockOrder(_ g: TokenGrid, _ b: BlockShape) -> [Int32] {
        var perm: [Int32] = []
        for tb in 0..<(g.t / b.bt) { for ib in 0..<(g.h / b.bh) { for jb in 0..<(g.w / b.bw) {
            for f in 0..<b.bt { for y in 0..<b.bh { for x in 0..<b.bw {
                let t = tb * b.bt + f, yy = ib * b.bh + y, xx = jb * b.bw + x
                perm.append(Int32((t * g.h + yy) * g.w + xx))
            } } }
        } } }
        return perm
    }

    @Test("raster -> block -> raster is the identity for every block shape",
          arguments: BlockShape.standard + [BlockShape(bt: 3, bh: 2, bw: 1), BlockShape(bt: 1, bh: 1, bw: 1)])
    func roundTrip(block: BlockShape) throws {
        let grid = TokenGrid(t: 12, h: 16, w: 32)
        let blocks = try BlockGrid(grid: grid, block: block)
        let perm = blocks.blockOrderPermutation()
        #expect(perm == Self.naiveBlockOrder(grid, block))
        let inverse = blocks.rasterPositions()
        let raster = (0..<grid.tokens).map { Int32($0) }
        let blockOrdered = perm.map { raster[Int($0)] }
        var back = [Int32](repeating: -1, count: raster.count)
        for (r, p) in inverse.enumerated() { back[r] = blockOrdered[Int(p)] }
        #expect(back == raster)
        #expect(Set(perm).count == grid.tokens)
    }

    @Test("block coordinates are raster over the block grid")
    func coordinates() throws {
        let blocks = try BlockGrid(grid: TokenGrid(t: 4, h: 16, w: 24), block: .nabla)
        #expect(blocks.count == 4 * 2 * 3)
        var n = 0
        for t in 0..<4 { for i in 0..<2 { for j in 0..<3 {
            let c = blocks.coordinates(of: n)
            #expect(c.t == t && c.i == i && c.j == j)
            n += 1
        } } }
    }
}

@Suite("Q/K layouts")
struct QKLayoutTests {
    let options = LayoutOptions()

    @Test("[heads, T, H, W, D] and [1, heads, T, H, W, D] take the grid from the shape")
    func rasterShapes() throws {
        let a = try QKLayout(shape: [4, 3, 16, 24, 32], name: "q", options: options)
        #expect(a.heads == 4 && a.headDim == 32 && a.grid == TokenGrid(t: 3, h: 16, w: 24) && a.order == .raster)
        #expect(a.uniformTokenStride == 32 && a.headStride == 3 * 16 * 24 * 32)
        let b = try QKLayout(shape: [1, 4, 3, 16, 24, 32], name: "q", options: options)
        #expect(b.heads == 4 && b.grid == a.grid)
    }

    @Test("[heads, S, D] needs a grid; without an order it is raster (diffusers' order after patchify)")
    func flatShapes() throws {
        let noGrid = #expect(throws: NablaError.self) { try QKLayout(shape: [2, 768, 16], name: "q.npy", options: options) }
        #expect(noGrid?.message.contains("give the grid with the grid setting (TxHxW)") == true)
        var o = LayoutOptions(grid: TokenGrid(t: 3, h: 16, w: 16))
        let noOrder = try QKLayout(shape: [2, 768, 16], name: "q.npy", options: o)
        #expect(noOrder.order == .raster && noOrder.uniformTokenStride == 16 && noOrder.offset(head: 1, token: 5) == 768 * 16 + 5 * 16)
        // diffusers' [B, S, heads, D]: the sequence found by the grid, raster by default.
        let wan = try QKLayout(shape: [1, 768, 2, 16], name: "q", options: o)
        #expect(wan.order == .raster && wan.axes == Array("bshd") && wan.offset(head: 1, token: 5) == (5 * 2 + 1) * 16)
        o.order = .block
        let l = try QKLayout(shape: [1, 2, 768, 16], name: "q.npy", options: o)
        #expect(l.order == .block(.nabla) && l.heads == 2)
        o.grid = TokenGrid(t: 2, h: 16, w: 16)
        let wrong = #expect(throws: NablaError.self) { try QKLayout(shape: [2, 768, 16], name: "q.npy", options: o) }
        #expect(wrong?.message(naming: .testFlags) == "q.npy: --grid 2x16x16 has 512 tokens but no axis of [2, 768, 16] has that many (the sequence axis, as read, has 768); a layout naming the axes may read it: --axes 'h s d' (2 heads, 768 tokens, head dim 16) or --axes 's h d' (2 tokens, 768 heads, head dim 16)")
    }

    @Test("shapes that fit nothing say which are accepted; a batch above 1 asks for --batch")
    func rejected() {
        for shape in [[768, 16], [1, 2, 3, 4, 5, 6, 7]] {
            let e = #expect(throws: NablaError.self) { try QKLayout(shape: shape, name: "q.npy", options: options) }
            #expect(e?.code == .badShape)
            #expect(e?.message.contains("[heads, T, H, W, D]") == true)
        }
        for shape in [[2, 2, 768, 16], [2, 1, 3, 16, 16, 8]] {
            let e = #expect(throws: NablaError.self) { try QKLayout(shape: shape, name: "q.npy", options: options) }
            #expect(e?.code == .badShape)
            #expect(e?.message(naming: .testFlags).contains("has a batch of 2; choose one item with --batch I (0...1)") == true)
        }
    }

    @Test("--axes names model layouts; a batch above 1 needs --batch")
    func axes() throws {
        var o = LayoutOptions(grid: TokenGrid(t: 2, h: 8, w: 8), order: .raster, axes: "s h d")
        let shd = try QKLayout(shape: [128, 4, 16], name: "q", options: o)
        #expect(shd.heads == 4 && shd.headStride == 16 && shd.uniformTokenStride == 64)
        o.axes = "b s h d"
        let e = #expect(throws: NablaError.self) { try QKLayout(shape: [2, 128, 4, 16], name: "q", options: o) }
        #expect(e?.wording.mentions.map(\.setting) == [.batch])
        o.batch = 1
        let bshd = try QKLayout(shape: [2, 128, 4, 16], name: "q", options: o)
        #expect(bshd.baseOffset == 128 * 4 * 16)
        o.batch = 2
        #expect(throws: NablaError.self) { try QKLayout(shape: [2, 128, 4, 16], name: "q", options: o) }
        for bad in ["s h q", "s s d", "s t h d"] {
            #expect(throws: NablaError.self) { try QKLayout.parseAxes(bad) }
        }
        // t y x in a non-raster nesting has no uniform token stride but still resolves.
        let xyt = try QKLayout(shape: [2, 8, 8, 2, 16], name: "q", options: LayoutOptions(axes: "h x y t d"))
        #expect(xyt.grid == TokenGrid(t: 2, h: 8, w: 8) && xyt.uniformTokenStride == nil)
    }
}
