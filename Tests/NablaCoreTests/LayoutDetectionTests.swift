import Testing
@testable import NablaCore

/// Which axis is the sequence: the grid's token count decides for rank-3 and rank-4
/// tensors (diffusers' `[B, S, heads, D]`, issue 18 item 3), a batch axis of any size is
/// picked by `--batch`, and layouts nabla cannot tell list the `--axes` that would read them.
@Suite("Q/K layout detection from the grid")
struct LayoutDetectionTests {
    static func layout(_ shape: [Int], grid: TokenGrid? = nil, batch: Int? = nil, axes: String? = nil) throws -> QKLayout {
        try QKLayout(shape: shape, name: "q.pt", options: LayoutOptions(grid: grid, order: .raster, axes: axes, batch: batch))
    }

    /// Element offset of (batch b, head h, token s, dim 0) in a C-order tensor of `shape`
    /// whose axes are `letters`, written out for the test.
    static func naiveOffset(_ shape: [Int], _ letters: String, b: Int, h: Int, s: Int) -> Int {
        var offset = 0
        for (size, letter) in zip(shape, letters) {
            let index = letter == "b" ? b : letter == "h" ? h : letter == "s" ? s : 0
            offset = offset * size + index
        }
        return offset
    }

    @Test("diffusers' [B, S, heads, D] and [S, heads, D] read with the grid alone",
          arguments: [([1, 7680, 8, 64], "bshd"), ([1, 8, 7680, 64], "bhsd"), ([7680, 8, 64], "shd"), ([8, 7680, 64], "hsd")])
    func sequenceAxisFromGrid(shape: [Int], expected: String) throws {
        let grid = TokenGrid(t: 5, h: 32, w: 48) // 7680 tokens
        let l = try Self.layout(shape, grid: grid)
        #expect(String(l.axes) == expected)
        #expect(l.heads == 8 && l.headDim == 64 && l.grid == grid)
        for (h, s) in [(0, 0), (3, 1), (7, 7679), (5, 4000)] {
            #expect(l.offset(head: h, token: s) == Self.naiveOffset(shape, expected, b: 0, h: h, s: s))
        }
    }

    @Test("a classifier-free-guidance batch of any size: --batch picks the item")
    func batchOfTwo() throws {
        let grid = TokenGrid(t: 2, h: 4, w: 4)
        let l = try Self.layout([2, 32, 3, 16], grid: grid, batch: 1)
        #expect(String(l.axes) == "bshd")
        #expect(l.offset(head: 2, token: 5) == Self.naiveOffset([2, 32, 3, 16], "bshd", b: 1, h: 2, s: 5))
        let noBatch = #expect(throws: NablaError.self) { try Self.layout([2, 3, 32, 16], grid: grid) }
        #expect(noBatch?.message(naming: .testFlags).contains("--batch I") == true)
        let grids6 = try Self.layout([2, 3, 2, 4, 4, 16], batch: 1)
        #expect(String(grids6.axes) == "bhtyxd" && grids6.baseOffset == 3 * 32 * 16)
    }

    @Test("without a grid, a [B, S, heads, D] tensor's error says the grid alone reads it")
    func hintWithoutGrid() {
        let error = #expect(throws: NablaError.self) { try Self.layout([1, 7680, 8, 64]) }
        #expect(error?.message(naming: .testFlags).contains("--grid TxHxW") == true)
        #expect(error?.message(naming: .testFlags).contains("[B, S, heads, D]") == true)
    }

    @Test("a grid no axis matches lists the --axes that would read the shape")
    func mismatchListsAxes() {
        let error = #expect(throws: NablaError.self) { try Self.layout([1, 7680, 8, 64], grid: TokenGrid(t: 1, h: 8, w: 8)) }
        #expect(error?.code == .badGrid)
        #expect(error?.message(naming: .testFlags).contains("--axes 'b s h d' (batch 1, 7680 tokens, 8 heads, head dim 64)") == true)
        #expect(error?.message(naming: .testFlags).contains("--axes 'b h s d' (batch 1, 7680 heads, 8 tokens, head dim 64)") == true)
    }

    @Test("two axes of the grid's size: refused, listing both readings")
    func ambiguous() {
        let error = #expect(throws: NablaError.self) { try Self.layout([64, 64, 16], grid: TokenGrid(t: 1, h: 8, w: 8)) }
        #expect(error?.code == .badShape)
        #expect(error?.message(naming: .testFlags).contains("--axes 'h s d'") == true)
        #expect(error?.message(naming: .testFlags).contains("--axes 's h d'") == true)
        // --axes settles it.
        #expect(throws: Never.self) { try Self.layout([64, 64, 16], grid: TokenGrid(t: 1, h: 8, w: 8), axes: "s h d") }
    }

    @Test("a rank nabla has no layout for lists the readings of that rank, or none")
    func noLayout() {
        let e2 = #expect(throws: NablaError.self) { try Self.layout([8, 8]) }
        #expect(e2?.message(naming: .testFlags).contains("fits none of the accepted layouts") == true)
        let e7 = #expect(throws: NablaError.self) { try Self.layout([1, 1, 2, 3, 4, 5, 6]) }
        #expect(e7?.message(naming: .testFlags).contains("fits none") == true)
        #expect(e7?.message(naming: .testFlags).contains("it would read as") == false)
    }
}

extension SettingNames {
    /// Settings spelled as the commands spell them (`--axes 'b s h d'`, `--batch I`), written
    /// for the tests (the executable's own `flags` lives outside NablaCore).
    static let testFlags = SettingNames { m in
        switch m.role {
        case .value(source: .caller), .wanted:
            "--" + m.setting.name.replacingOccurrences(of: " ", with: "-") + (m.value.map { " \($0)" } ?? "")
        default: SettingNames.engine.name(m)
        }
    }
}
