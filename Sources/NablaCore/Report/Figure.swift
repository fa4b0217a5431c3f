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

/// A figure as drawing primitives in user units (1 unit = 1 pixel of the PNG at scale 1):
/// filled rectangles, lines, polylines and text. Written as SVG directly (`svg()`), or
/// rasterised (`raster(scale:)`, text left out) for PNG.
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

    /// The figure's rectangles and lines as RGB pixels, `[height, width, 3]` row-major,
    /// `scale` pixels per unit; text is left out (a PNG carries no fonts).
    /// - Complexity: O(covered pixels).
    public func raster(scale: Double = 1) -> (width: Int, height: Int, rgb: [UInt8]) {
        let w = max(1, Int((width * scale).rounded())), h = max(1, Int((height * scale).rounded()))
        var rgb = [UInt8](repeating: 255, count: w * h * 3)
        func fill(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ c: FigureColor) {
            let a = max(0, Int((x0 * scale).rounded())), b = min(w, max(a + 1, Int((x1 * scale).rounded())))
            let top = max(0, Int((y0 * scale).rounded())), bottom = min(h, max(top + 1, Int((y1 * scale).rounded())))
            guard a < w, top < h else { return }
            for y in top..<bottom {
                for x in a..<b {
                    let i = (y * w + x) * 3
                    rgb[i] = c.r
                    rgb[i + 1] = c.g
                    rgb[i + 2] = c.b
                }
            }
        }
        func segment(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ c: FigureColor, _ lw: Double) {
            let steps = max(1, Int((max(abs(x2 - x1), abs(y2 - y1)) * scale).rounded(.up)))
            let half = max(lw * scale, 1) / 2 / scale
            for s in 0...steps {
                let t = Double(s) / Double(steps)
                let x = x1 + (x2 - x1) * t, y = y1 + (y2 - y1) * t
                fill(x - half, y - half, x + half, y + half, c)
            }
        }
        for item in items {
            switch item {
            case .rect(let x, let y, let rw, let rh, let f, let stroke, let sw):
                if let f { fill(x, y, x + rw, y + rh, f) }
                if let stroke {
                    segment(x, y, x + rw, y, stroke, sw)
                    segment(x, y + rh, x + rw, y + rh, stroke, sw)
                    segment(x, y, x, y + rh, stroke, sw)
                    segment(x + rw, y, x + rw, y + rh, stroke, sw)
                }
            case .line(let x1, let y1, let x2, let y2, let c, let lw):
                segment(x1, y1, x2, y2, c, lw)
            case .polyline(let points, let c, let lw):
                for (p, q) in zip(points, points.dropFirst()) { segment(p.x, p.y, q.x, q.y, c, lw) }
            case .text:
                break
            }
        }
        return (w, h, rgb)
    }
}

/// The file formats a figure is written in, chosen by the file's extension.
public enum FigureFormat: String, Sendable {
    case svg, png

    /// The format of `path` by its extension (any case), or `nil` for another one.
    public init?(path: String) {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        self.init(rawValue: path[path.index(after: dot)...].lowercased())
    }

    /// The file's bytes: SVG text (refused over `Figures.svgByteLimit`), or PNG at
    /// `scale` pixels per unit. `name` names the file in errors.
    /// - Throws: `NablaError.badArgument` for an SVG over the limit, `.writeFailed` when
    ///   PNG compression fails.
    public func encode(_ figure: Figure, scale: Double, name: String) throws -> [UInt8] {
        switch self {
        case .svg: try Figures.svgBytes(figure, name: name)
        case .png: try figure.png(scale: scale)
        }
    }
}
