import CCairo
import Foundation
import NablaCore

/// A figure's file bytes in each format: SVG from nabla's own writer (`Figure.svg()`: text
/// stays text, so a figure's words can be searched and checked), PNG and PDF drawn by Cairo
/// (cairographics.org; Debian's libcairo2-dev), which sets the text in DejaVu Sans (or the
/// nearest face fontconfig finds) and embeds the font subset in the PDF.
///
/// Why Cairo: one drawing code gives both raster and vector output with real text, and its
/// PDF surface writes the fonts a printed paper needs, which a hand-written PNG encoder (the
/// previous one left text out) could not. Cairo's own SVG surface turns text into glyph
/// outlines, so SVG stays nabla's writer.
public enum FigureFile {
    /// The font family figures are set in; SVG names the same one first.
    public static let fontFamily = "DejaVu Sans"

    /// The file's bytes: SVG text (refused over `Figures.svgByteLimit`), PNG at `scale`
    /// pixels per unit, or PDF at one point per unit. `name` names the file in errors.
    /// - Throws: `NablaError.badArgument` for an SVG over the limit, `.writeFailed` when
    ///   Cairo fails (its status in the message).
    /// - Complexity: O(items) to draw, plus Cairo's rasterisation, O(width x height x scale²) for PNG.
    public static func bytes(_ figure: Figure, format: FigureFormat, scale: Double = 2, name: String) throws -> [UInt8] {
        switch format {
        case .svg: return try Figures.svgBytes(figure, name: name)
        case .png: return try png(figure, scale: scale, name: name)
        case .pdf: return try pdf(figure, name: name)
        }
    }

    /// Collects what Cairo writes through its stream callbacks.
    private final class Sink {
        var bytes: [UInt8] = []
    }

    private static let write: cairo_write_func_t = { closure, data, length in
        guard let closure, let data else { return CAIRO_STATUS_WRITE_ERROR }
        let sink = Unmanaged<Sink>.fromOpaque(closure).takeUnretainedValue()
        sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
        return CAIRO_STATUS_SUCCESS
    }

    private static func check(_ status: cairo_status_t, _ name: String, _ what: String) throws {
        guard status == CAIRO_STATUS_SUCCESS else {
            throw NablaError(.writeFailed, "\(name): Cairo could not \(what): \(String(cString: cairo_status_to_string(status)))")
        }
    }

    static func png(_ figure: Figure, scale: Double, name: String) throws -> [UInt8] {
        let w = max(1, Int((figure.width * scale).rounded())), h = max(1, Int((figure.height * scale).rounded()))
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(w), Int32(h)) else {
            throw NablaError(.writeFailed, "\(name): Cairo could not make a \(w)x\(h) image")
        }
        defer { cairo_surface_destroy(surface) }
        try check(cairo_surface_status(surface), name, "make a \(w)x\(h) image")
        try draw(figure, on: surface, scale: scale, name: name)
        let sink = Sink()
        let status = cairo_surface_write_to_png_stream(surface, write, Unmanaged.passUnretained(sink).toOpaque())
        try check(status, name, "write the PNG")
        return sink.bytes
    }

    static func pdf(_ figure: Figure, name: String) throws -> [UInt8] {
        let sink = Sink()
        guard let surface = cairo_pdf_surface_create_for_stream(write, Unmanaged.passUnretained(sink).toOpaque(),
                                                                 figure.width, figure.height) else {
            throw NablaError(.writeFailed, "\(name): Cairo could not make a PDF page")
        }
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "nabla")
        if let title = figure.title { cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, title) }
        do {
            try draw(figure, on: surface, scale: 1, name: name)
            cairo_surface_finish(surface)
            try check(cairo_surface_status(surface), name, "write the PDF")
        } catch {
            cairo_surface_destroy(surface)
            throw error
        }
        cairo_surface_destroy(surface)
        return withExtendedLifetime(sink) { sink.bytes }
    }

    /// Draws `figure` on a white page at `scale` device units per figure unit.
    static func draw(_ figure: Figure, on surface: OpaquePointer, scale: Double, name: String) throws {
        guard let cr = cairo_create(surface) else { throw NablaError(.writeFailed, "\(name): Cairo could not draw") }
        defer { cairo_destroy(cr) }
        cairo_scale(cr, scale, scale)
        cairo_set_source_rgb(cr, 1, 1, 1)
        cairo_paint(cr)
        cairo_select_font_face(cr, fontFamily, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        func color(_ c: FigureColor) { cairo_set_source_rgb(cr, Double(c.r) / 255, Double(c.g) / 255, Double(c.b) / 255) }
        for item in figure.fitted().items {
            switch item {
            case .rect(let x, let y, let w, let h, let fill, let stroke, let strokeWidth):
                if let fill {
                    // Filled cells tile the maps edge to edge: without antialiasing their
                    // shared edges leave no light seams.
                    color(fill)
                    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE)
                    cairo_rectangle(cr, x, y, w, h)
                    cairo_fill(cr)
                    cairo_set_antialias(cr, CAIRO_ANTIALIAS_DEFAULT)
                }
                if let stroke {
                    color(stroke)
                    cairo_set_line_width(cr, strokeWidth)
                    cairo_rectangle(cr, x, y, w, h)
                    cairo_stroke(cr)
                }
            case .line(let x1, let y1, let x2, let y2, let c, let width):
                color(c)
                cairo_set_line_width(cr, width)
                cairo_move_to(cr, x1, y1)
                cairo_line_to(cr, x2, y2)
                cairo_stroke(cr)
            case .polyline(let points, let c, let width):
                guard let first = points.first else { continue }
                color(c)
                cairo_set_line_width(cr, width)
                cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
                cairo_move_to(cr, first.x, first.y)
                for p in points.dropFirst() { cairo_line_to(cr, p.x, p.y) }
                cairo_stroke(cr)
            case .text(let x, let y, let text, let size, let c, let anchor):
                color(c)
                cairo_set_font_size(cr, size)
                let advance = textExtents(cr, text).advance
                let start = anchor == "middle" ? x - advance / 2 : anchor == "end" ? x - advance : x
                cairo_move_to(cr, start, y)
                cairo_show_text(cr, text)
            }
        }
        try check(cairo_status(cr), name, "draw the figure")
    }

    private static func textExtents(_ cr: OpaquePointer, _ text: String) -> (advance: Double, left: Double, top: Double, width: Double, height: Double) {
        var e = cairo_text_extents_t()
        cairo_text_extents(cr, text, &e)
        return (e.x_advance, e.x_bearing, e.y_bearing, e.width, e.height)
    }

    /// Where each text item of `figure` is drawn, in figure units: its ink box as Cairo
    /// sets it in `fontFamily`, for checking that every word stays inside the canvas.
    /// - Complexity: O(text items).
    public static func textBoxes(_ figure: Figure) -> [(text: String, minX: Double, minY: Double, maxX: Double, maxY: Double)] {
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1) else { return [] }
        defer { cairo_surface_destroy(surface) }
        guard let cr = cairo_create(surface) else { return [] }
        defer { cairo_destroy(cr) }
        cairo_select_font_face(cr, fontFamily, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        var boxes: [(String, Double, Double, Double, Double)] = []
        for item in figure.fitted().items {
            guard case .text(let x, let y, let text, let size, _, let anchor) = item, !text.isEmpty else { continue }
            cairo_set_font_size(cr, size)
            let e = textExtents(cr, text)
            let start = anchor == "middle" ? x - e.advance / 2 : anchor == "end" ? x - e.advance : x
            boxes.append((text, start + e.left, y + e.top, start + e.left + e.width, y + e.top + e.height))
        }
        return boxes
    }
}
