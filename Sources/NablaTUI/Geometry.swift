import NablaCore

/// A terminal size in character cells.
public struct Size: Hashable, Sendable, CustomStringConvertible {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
    }

    /// `"WxH"`, as `--size` takes it.
    public var description: String { "\(width)x\(height)" }

    /// The largest columns and rows `--size` takes.
    public static let limit = 1000

    /// Parses `"WxH"` (positive integers, at most `limit` each).
    /// - Throws: `NablaError.badArgument` naming the text, and the limit when a value passes it.
    public init(parsing text: String) throws {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else {
            throw NablaError(.badArgument, "size '\(text)' is not of the form WxH (columns x rows, e.g. 120x40)")
        }
        guard (1...Size.limit).contains(w), (1...Size.limit).contains(h) else {
            throw NablaError(.badArgument, "size '\(text)': columns and rows must be 1 to \(Size.limit)")
        }
        self.init(width: w, height: h)
    }

    public func covers(_ other: Size) -> Bool { width >= other.width && height >= other.height }
}

/// A rectangle of character cells; `x`, `y` is the top-left cell.
public struct Rect: Hashable, Sendable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = max(0, width)
        self.height = max(0, height)
    }

    public static let zero = Rect(x: 0, y: 0, width: 0, height: 0)

    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
    public var isEmpty: Bool { width == 0 || height == 0 }

    public func contains(x px: Int, y py: Int) -> Bool {
        px >= x && px < maxX && py >= y && py < maxY
    }

    /// The first `n` rows, and the rest.
    func splitTop(_ n: Int) -> (Rect, Rect) {
        let k = min(max(n, 0), height)
        return (Rect(x: x, y: y, width: width, height: k), Rect(x: x, y: y + k, width: width, height: height - k))
    }

    /// The last `n` rows, and the rest above them.
    func splitBottom(_ n: Int) -> (Rect, Rect) {
        let k = min(max(n, 0), height)
        return (Rect(x: x, y: maxY - k, width: width, height: k), Rect(x: x, y: y, width: width, height: height - k))
    }

    /// The first `n` columns, and the rest.
    func splitLeft(_ n: Int) -> (Rect, Rect) {
        let k = min(max(n, 0), width)
        return (Rect(x: x, y: y, width: k, height: height), Rect(x: x + k, y: y, width: width - k, height: height))
    }

    func row(_ i: Int) -> Rect { Rect(x: x, y: y + i, width: width, height: 1) }
}

/// A query block (row of the map) and a key block (column), both raster indices over
/// the block grid.
public struct BlockPair: Hashable, Sendable, CustomStringConvertible {
    public var query: Int
    public var key: Int

    public init(query: Int, key: Int) {
        self.query = query
        self.key = key
    }

    public var description: String { "(\(query), \(key))" }
}
