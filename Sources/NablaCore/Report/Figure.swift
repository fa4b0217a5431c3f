import Foundation

/// A colour as 8-bit sRGB.
public struct FigureColor: Hashable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public static let black = FigureColor(0, 0, 0)
    public static let white = FigureColor(255, 255, 255)
    public static let grey = FigureColor(128, 128, 128)
    public static let light = FigureColor(224, 224, 224)
    public static let red = FigureColor(214, 39, 40)
    public static let orange = FigureColor(255, 127, 14)
    public static let blue = FigureColor(31, 119, 180)
    /// STA-only blocks: blue-violet, apart from viridis for colour-blind readers too.
    public static let staOnly = FigureColor(95, 95, 255)
    /// Dropped blocks' bars: a grey that still shows on the white page in print.
    public static let dropped = FigureColor(185, 185, 185)

    /// `#rrggbb`.
    public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }

    /// Viridis (matplotlib's perceptual colour map) at `t` in `[0, 1]`, from its published
    /// values at tenths, interpolated in sRGB.
    public static func viridis(_ t: Double) -> FigureColor {
        let stops = FigureColor.viridisStops
        let x = min(max(t.isFinite ? t : 0, 0), 1) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2)
        let f = x - Double(i)
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) + (Double(b) - Double(a)) * f).rounded()) }
        return FigureColor(mix(stops[i].r, stops[i + 1].r), mix(stops[i].g, stops[i + 1].g), mix(stops[i].b, stops[i + 1].b))
    }

    /// Viridis at 0, 0.1, ..., 1.
    public static let viridisStops: [FigureColor] = [
        FigureColor(0x44, 0x01, 0x54), FigureColor(0x48, 0x24, 0x75), FigureColor(0x41, 0x44, 0x87),
        FigureColor(0x35, 0x5F, 0x8D), FigureColor(0x2A, 0x78, 0x8E), FigureColor(0x21, 0x91, 0x8C),
        FigureColor(0x22, 0xA8, 0x84), FigureColor(0x44, 0xBF, 0x70), FigureColor(0x7A, 0xD1, 0x51),
        FigureColor(0xBD, 0xDF, 0x26), FigureColor(0xFD, 0xE7, 0x25),
    ]
}

/// A figure as drawing primitives in user units (1 unit = 1 pixel of the PNG at scale 1,
/// 1 point of the PDF): filled rectangles, lines, polylines and text. Written as SVG
/// directly (`svg()`); as PNG and PDF, text included, by `FigureFile` (NablaFigures,
/// through Cairo).
public struct Figure: Sendable {
    public enum Item: Sendable {
        case rect(x: Double, y: Double, width: Double, height: Double, fill: FigureColor?, stroke: FigureColor? = nil, strokeWidth: Double = 1)
        case line(x1: Double, y1: Double, x2: Double, y2: Double, color: FigureColor, width: Double = 1)
        case polyline([(x: Double, y: Double)], color: FigureColor, width: Double = 1.5)
        /// `anchor`: `start`, `middle` or `end`.
        case text(x: Double, y: Double, String, size: Double = 11, color: FigureColor = .black, anchor: String = "start")
    }

    public let width: Double
    public let height: Double
    public var items: [Item] = []

    /// An upper bound of the advance of `text` at font size `size` in DejaVu Sans (the
    /// face figures are set in), from coarse classes of its characters' advances in em
    /// (the face's own: narrow punctuation and `i l j` 0.32, digits 0.64, capitals and
    /// `m w` up to 0.99); `FigureFile.textBoxes` measures the real ink.
    public static func estimatedWidth(_ text: String, size: Double) -> Double {
        var em = 0.0
        for c in text.unicodeScalars {
            switch c {
            case " ", ".", ",", ":", ";", "'", "|", "!", "i", "l", "j", "(", ")", "[", "]", "f", "t", "r": em += 0.44
            case "0"..."9", "-", "+", "=", "<", ">", "%": em += c == "%" ? 0.96 : 0.84
            case "m", "w", "M", "W", "@": em += 0.99
            case "A"..."Z": em += 0.8
            default: em += c.value > 0x7F ? 0.99 : 0.64
            }
        }
        return em * size
    }

    /// The figure with every text made to fit the canvas (a 4-unit margin): where its
    /// estimated width (`estimatedWidth`) does not fit the room its anchor leaves, the size
    /// shrinks (down to 7) and then the text is cut with `…`. Both writers draw this
    /// (issue 20, item 6: a long subtitle ran off the edge).
    /// - Complexity: O(total text length).
    public func fitted() -> Figure {
        var out = self
        let margin = 4.0
        out.items = items.map { item in
            guard case .text(let x, let y, var text, var size, let color, let anchor) = item else { return item }
            let room = anchor == "middle" ? 2 * min(x - margin, width - margin - x) : anchor == "end" ? x - margin : width - margin - x
            guard room > 0 else { return item }
            while Figure.estimatedWidth(text, size: size) > room && size > 7 { size = max(7, size - 0.5) }
            while Figure.estimatedWidth(text, size: size) > room && text.count > 1 { text = String(text.dropLast(2)) + "…" }
            return .text(x: x, y: y, text, size: size, color: color, anchor: anchor)
        }
        return out
    }

    /// The figure's title: its first text (every figure of `Figures` starts with it).
    public var title: String? {
        for item in items { if case .text(_, _, let s, _, _, _) = item { return s } }
        return nil
    }

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    public mutating func add(_ item: Item) { items.append(item) }

    /// The figure as an SVG 1.1 document (white background).
    public func svg() -> String {
        func n(_ x: Double) -> String {
            let r = (x * 100).rounded() / 100
            return r == r.rounded() ? String(Int(r)) : String(r)
        }
        func escaped(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        let items = fitted().items
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(n(width))\" height=\"\(n(height))\" viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#ffffff\"/>\n"
        for item in items {
            switch item {
            case .rect(let x, let y, let w, let h, let fill, let stroke, let sw):
                out += "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(w))\" height=\"\(n(h))\" fill=\"\(fill?.hex ?? "none")\""
                if let stroke { out += " stroke=\"\(stroke.hex)\" stroke-width=\"\(n(sw))\"" }
                out += "/>\n"
            case .line(let x1, let y1, let x2, let y2, let color, let w):
                out += "<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke=\"\(color.hex)\" stroke-width=\"\(n(w))\"/>\n"
            case .polyline(let points, let color, let w):
                let p = points.map { "\(n($0.x)),\(n($0.y))" }.joined(separator: " ")
                out += "<polyline points=\"\(p)\" fill=\"none\" stroke=\"\(color.hex)\" stroke-width=\"\(n(w))\"/>\n"
            case .text(let x, let y, let s, let size, let color, let anchor):
                out += "<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(n(size))\" fill=\"\(color.hex)\" text-anchor=\"\(anchor)\">\(escaped(s))</text>\n"
            }
        }
        out += "</svg>\n"
        return out
    }
}

/// The file formats a figure is written in, chosen by the file's extension: `svg`
/// (`Figure.svg()`), `png` and `pdf` (`FigureFile` in NablaFigures).
public enum FigureFormat: String, Sendable, CaseIterable {
    case svg, png, pdf

    /// The format of `path` by its extension (any case), or `nil` for another one.
    public init?(path: String) {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        self.init(rawValue: path[path.index(after: dot)...].lowercased())
    }

    /// `.svg, .png or .pdf`, for messages.
    public static var extensionList: String { ".svg, .png or .pdf" }
}
