/// Where every panel goes on a screen of a given size, for a given state.
///
/// Left: the block map panel (a title row, the key ruler, the query gutter with the map
/// pixels beside it, a legend row). Right: the side column (cursor details, stage
/// times, frame coverage, video preview), as many sections as fit. Bottom: the status line.
/// The map keeps at least 48 pixels across when the side column wants room for the
/// coverage values, and the side column at least 30 columns.
public struct ScreenLayout: Sendable, Equatable {
    /// Below this the app only says how large it needs to be.
    public static let minimum = Size(width: 60, height: 16)
    static let gutterWidth = 4
    static let infoHeight = 5
    static let timingHeight = 9
    /// The timing section without its attention rows.
    static let stageTimingHeight = 4

    public let size: Size
    public let tooSmall: Bool
    public let pixelRowsPerCell: Int
    public let cellsPerPixel: Int
    public let status: Rect
    public let mapPanel: Rect
    public let title: Rect
    /// The top ruler's cells above the pixels (the gutter corner is left of it).
    public let ruler: Rect
    public let gutter: Rect
    /// The cells the map pixels are drawn in.
    public let mapArea: Rect
    public let legend: Rect
    /// The row of the joint text tokens' band, between the map and the legend (height 0
    /// without text tokens).
    public let textBand: Rect
    public let side: Rect
    public let info: Rect
    public let timing: Rect
    public let coverage: Rect
    public let preview: Rect

    /// Where the heads overview draws: the ruler, gutter and map cells together.
    public var overviewArea: Rect {
        Rect(x: mapPanel.x, y: ruler.y, width: max(mapPanel.width - 1, 0), height: mapArea.height + 1)
    }

    public var pixelsWide: Int { mapArea.width / cellsPerPixel }
    public var pixelsTall: Int { mapArea.height * pixelRowsPerCell }

    public init(state: AppState, size: Size) {
        self.init(size: size, pixelRowsPerCell: state.theme.pixelRowsPerCell, cellsPerPixel: state.theme.cellsPerPixel,
                  frameSlabs: state.map?.blocks.tb ?? 0, hasPreview: state.input?.preview != nil,
                  hasText: state.input?.text != nil)
    }

    public init(size: Size, pixelRowsPerCell pr: Int, cellsPerPixel cx: Int, frameSlabs tb: Int, hasPreview: Bool,
                hasText: Bool = false) {
        self.size = size
        self.pixelRowsPerCell = pr
        self.cellsPerPixel = cx
        tooSmall = !size.covers(ScreenLayout.minimum)
        let w = size.width
        status = Rect(x: 0, y: size.height - 1, width: w, height: 1)
        let body = Rect(x: 0, y: 0, width: w, height: max(size.height - 1, 0))
        let band = hasText ? 1 : 0
        let mapRows = max(body.height - 3 - band, 0)
        let g = ScreenLayout.gutterWidth
        // Side column: what is left beside a square map, at least 30 columns, wider when
        // the frame coverage needs it for its values, never leaving the map under 16 pixels.
        var sideWidth = max(w - g - 1 - mapRows * pr * cx, 30)
        let coverageWant = tb > 0 ? ScreenLayout.coverageWidth(slabs: tb, cellWidth: 3) : 0
        if coverageWant > sideWidth { sideWidth = min(coverageWant, max(sideWidth, w - g - 1 - 48 * cx)) }
        sideWidth = max(0, min(sideWidth, w - g - 1 - 16 * cx))
        let (left, right) = body.splitLeft(w - sideWidth)
        mapPanel = left
        side = right
        title = left.row(0)
        ruler = Rect(x: left.x + g, y: left.y + 1, width: max(left.width - g - 1, 0), height: 1)
        gutter = Rect(x: left.x, y: left.y + 2, width: g, height: mapRows)
        mapArea = Rect(x: left.x + g, y: left.y + 2, width: max(left.width - g - 1, 0), height: mapRows)
        legend = Rect(x: left.x, y: left.maxY - 1, width: left.width, height: 1)
        textBand = Rect(x: left.x, y: left.maxY - 1 - band, width: left.width, height: band)

        var rest = right
        (info, rest) = rest.splitTop(ScreenLayout.infoHeight)
        if rest.height >= ScreenLayout.timingHeight {
            (timing, rest) = rest.splitTop(ScreenLayout.timingHeight)
        } else if rest.height >= ScreenLayout.stageTimingHeight {
            // Room for the mask stages only, not the attention rows.
            (timing, rest) = rest.splitTop(ScreenLayout.stageTimingHeight)
        } else {
            timing = .zero
        }
        if tb > 0, rest.height >= 3 {
            let want = tb + 1
            let previewRows = hasPreview && rest.height - want >= 6 ? rest.height - want : 0
            (coverage, rest) = rest.splitTop(rest.height - previewRows)
            preview = previewRows > 0 ? rest : .zero
        } else {
            coverage = .zero
            preview = hasPreview && rest.height >= 6 ? rest : .zero
        }
    }

    /// Columns of a coverage row: margin, frame label, cells, bar, percentage.
    static func coverageWidth(slabs: Int, cellWidth: Int) -> Int { slabs * cellWidth + 14 }

    /// The cells of the heads overview's thumbnails in `area`: a label row and a square
    /// of pixels per head, in as many columns as make the squares largest.
    public static func thumbnails(heads: Int, in area: Rect, pixelRowsPerCell pr: Int,
                                  cellsPerPixel cx: Int) -> [(label: Rect, pixels: Rect)] {
        guard heads > 0, !area.isEmpty else { return [] }
        var best: (cols: Int, side: Int, cellWidth: Int) = (1, 0, 0)
        for cols in 1...heads {
            let rows = (heads + cols - 1) / cols
            let cellW = (area.width - (cols - 1)) / cols
            let cellH = (area.height - rows) / rows  // one label row per thumbnail
            let side = min(cellW / cx, cellH * pr)
            if side > best.side { best = (cols, side, cellW) }
        }
        guard best.side >= 2 else { return [] }
        let side = best.side
        let slot = max(side * cx, min(best.cellWidth, 10))
        let cellRows = (side + pr - 1) / pr
        return (0..<heads).map { h in
            let c = h % best.cols, r = h / best.cols
            let x = area.x + c * (slot + 1)
            let y = area.y + r * (cellRows + 1)
            return (Rect(x: x, y: y, width: slot, height: 1), Rect(x: x, y: y + 1, width: side * cx, height: cellRows))
        }
    }
}
