/// One character cell: what is drawn in it and how.
public struct Cell: Hashable, Sendable {
    public var character: Character
    public var foreground: ColorRole
    public var background: ColorRole
    public var attributes: CellAttributes

    public init(_ character: Character, _ style: Style = .plain) {
        self.character = character
        self.foreground = style.foreground
        self.background = style.background
        self.attributes = style.attributes
    }

    public init(_ character: Character, foreground: ColorRole, background: ColorRole, attributes: CellAttributes = []) {
        self.character = character
        self.foreground = foreground
        self.background = background
        self.attributes = attributes
    }

    public static let blank = Cell(" ")

    public var style: Style { Style(foreground, background, attributes) }
}

/// A full screen of cells, row-major: what the app shows, independent of any terminal.
///
/// Writers clip to the screen and replace characters that would not take exactly one
/// cell with `?`; with `ascii` set, every character is written as an ASCII look-alike.
public struct Screen: Equatable, Sendable {
    public let size: Size
    public private(set) var cells: [Cell]
    /// Whether only ASCII may be written (the locale is not UTF-8).
    public let ascii: Bool

    public init(size: Size, ascii: Bool = false) {
        self.size = size
        self.ascii = ascii
        cells = Array(repeating: .blank, count: size.width * size.height)
    }

    public var bounds: Rect { Rect(x: 0, y: 0, width: size.width, height: size.height) }

    public subscript(x: Int, y: Int) -> Cell {
        cells[y * size.width + x]
    }

    /// Sets one cell; outside the screen nothing happens.
    public mutating func set(_ x: Int, _ y: Int, _ cell: Cell) {
        guard x >= 0, y >= 0, x < size.width, y < size.height else { return }
        var c = cell
        c.character = drawable(c.character)
        cells[y * size.width + x] = c
    }

    func drawable(_ c: Character) -> Character {
        if ascii { return Glyphs.ascii(c) }
        return Glyphs.isSingleWidth(c) ? c : "?"
    }

    /// Writes `text` from `(x, y)` rightwards, clipped to `clip` (default the screen),
    /// and returns the column after the last character written.
    @discardableResult
    public mutating func put(_ text: String, x: Int, y: Int, style: Style = .plain, clip: Rect? = nil) -> Int {
        let area = clip ?? bounds
        guard y >= area.y, y < area.maxY else { return x + text.count }
        var cx = x
        for ch in text {
            if cx >= area.maxX { break }
            if cx >= area.x { set(cx, y, Cell(ch, style)) }
            cx += 1
        }
        return cx
    }

    /// Writes `text` in `rect`'s row `row`, truncated with an ellipsis if it is longer.
    @discardableResult
    mutating func put(_ text: String, in rect: Rect, row: Int = 0, column: Int = 0, style: Style = .plain,
                      ellipsis: Character = "…") -> Int {
        let width = rect.width - column
        guard width > 0, row >= 0, row < rect.height else { return rect.x + column }
        let fitted = text.count > width ? String(text.prefix(max(0, width - 1))) + String(ellipsis) : text
        return put(fitted, x: rect.x + column, y: rect.y + row, style: style, clip: rect)
    }

    /// Fills `rect` with `cell`.
    public mutating func fill(_ rect: Rect, with cell: Cell = .blank) {
        for y in max(rect.y, 0)..<min(rect.maxY, size.height) {
            for x in max(rect.x, 0)..<min(rect.maxX, size.width) { set(x, y, cell) }
        }
    }

    /// Applies `style` to every cell of `rect`, keeping the characters.
    mutating func restyle(_ rect: Rect, _ style: Style) {
        for y in max(rect.y, 0)..<min(rect.maxY, size.height) {
            for x in max(rect.x, 0)..<min(rect.maxX, size.width) {
                var c = self[x, y]
                c.foreground = style.foreground
                c.background = style.background
                c.attributes = style.attributes
                cells[y * size.width + x] = c
            }
        }
    }

    /// The rows as text, trailing blanks removed.
    public var lines: [String] {
        (0..<size.height).map { y in
            var s = String((0..<size.width).map { self[$0, y].character })
            while s.last == " " { s.removeLast() }
            return s
        }
    }

    /// The whole screen as plain text: one line per row, no escape codes.
    public var text: String { lines.joined(separator: "\n") }

    /// Indices into `cells` that differ from `previous` (all of them when there is no
    /// previous screen or its size differs): what a terminal backend has to redraw.
    /// - Complexity: O(cells).
    public func changedCells(since previous: Screen?) -> [Int] {
        guard let previous, previous.size == size else { return Array(cells.indices) }
        return cells.indices.filter { cells[$0] != previous.cells[$0] }
    }
}
