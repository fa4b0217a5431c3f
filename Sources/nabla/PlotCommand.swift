import ArgumentParser
import CompressNIO
import Foundation
import NablaCore
import NablaTUI
import NIOCore

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Write a view as a figure for slides and papers: SVG, or PNG (shapes only, no text).",
        discussion: """
        Views: map (block map of --head: kept blocks by log10 P, dropped in grey, the kept outline \
        when one cell is one block, frame slabs labelled, colour bar), coverage (frame coverage with \
        values), row (query block --query through the cut: sorted probabilities, running sum, \
        threshold, STA-only blocks), sweep (density, mass kept and recall over thr), compare (the \
        mask against --compare SPEC, as nabla diff takes), overview (every head). The format \
        follows the extension of --out; files are replaced whole.
        """
    )

    @OptionGroup var input: InputOptions
    @OptionGroup var mask: MaskOptions

    @Option(parsing: .unconditional, help: "View: map, coverage, row, sweep, compare or overview.")
    var view: String = "map"

    @Option(parsing: .unconditional, help: ArgumentHelp("Output file, .svg or .png.", valueName: "FILE"))
    var out: String

    @Option(parsing: .unconditional, help: "Head (0-based tensor index).")
    var head: Int = 0

    @Option(parsing: .unconditional, help: "Query block of the row view (raster over the block grid; default the middle one).")
    var query: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Mask B of the compare view (a nabla diff spec).", valueName: "SPEC"))
    var compare: String = "sta=11x3x3"

    @Option(parsing: .unconditional, help: "Pixels per figure unit of a PNG.")
    var scale: Double = 2

    func validate() throws {
        guard Figures.views.contains(view) else {
            throw ValidationError("--view '\(view)' is not one of \(Figures.views.joined(separator: ", "))")
        }
        let ext = (out as NSString).pathExtension.lowercased()
        guard ext == "svg" || ext == "png" else { throw ValidationError("--out \(out): give a .svg or .png file") }
        guard head >= 0 else { throw ValidationError("--head \(head) is below 0 (heads are 0-based)") }
        guard scale > 0 && scale <= 8 else { throw ValidationError("--scale \(scale) is outside (0, 8]") }
    }

    func run() throws {
        let qk = try input.spec(orderBlock: mask.block).load()
        // --head names a tensor index; the engine's arrays hold the loaded heads in order.
        guard let h = qk.headIndices.firstIndex(of: head) else {
            throw NablaError(.badArgument, "--" + PromptCommand.headMissing(head, headIndices: qk.headIndices))
        }
        guard let map = try PooledMap.compute(qk, block: mask.block) else { preconditionFailure("uncancellable") }
        let settings = mask.settings
        let cut = map.cut(settings)
        let label = "\(qk.name) · block \(mask.block) · \(settings)"
        let figure: Figure
        switch view {
        case "coverage":
            figure = Figures.coverage(mask: cut, head: h, title: "frame coverage · head \(head) · \(label)")
        case "row":
            let q = query ?? map.n / 2
            guard (0..<map.n).contains(q) else {
                throw NablaError(.badArgument, "--query \(q) is out of range: the block grid has \(map.n) blocks (0...\(map.n - 1))")
            }
            figure = Figures.row(RowTrace(map: map, head: h, query: q, settings: settings),
                                 title: "query block \(q) · head \(head) · \(label)")
        case "sweep":
            let flops = 2 * Double(qk.headDim) * Double(qk.grid.tokens * qk.grid.tokens) * Double(qk.heads)
            let sweep = try ThresholdSweep(map: map, sta: settings.sta, thresholds: (0...20).map { Double($0) / 20 },
                                           input: qk, recall: flops <= 2e10)
            figure = Figures.sweep(sweep, head: h, headName: head, current: settings.threshold, title: "threshold sweep · head \(head) · \(qk.name)")
        case "compare":
            let report = try DiffReport(input: qk, a: MaskSpec(.cut(settings)), b: try MaskSpec(parsing: compare), block: mask.block)
            guard report.comparison.a.blocks == report.comparison.b.blocks else {
                throw NablaError(.badArgument, "--compare \(compare): the overlay needs one block shape; nabla diff compares block shapes")
            }
            figure = Figures.compare(report.comparison, head: h, title: "compare · head \(head) · \(qk.name)")
        case "overview":
            figure = Figures.overview(map: map, mask: cut, title: "every head · \(label)")
        default:
            figure = Figures.map(map: map, mask: cut, head: h, title: "head \(head) · \(percent(cut.statistics.density[h])) kept · \(label)")
        }
        if (out as NSString).pathExtension.lowercased() == "png" {
            let image = figure.raster(scale: scale)
            try AtomicFile.write(try PNG.encode(width: image.width, height: image.height, rgb: image.rgb), to: out)
        } else {
            try AtomicFile.write(Array(figure.svg().utf8), to: out)
        }
        print("wrote      \(out) (\(view))")
    }
}

/// PNG files (RFC 2083; W3C PNG specification, 2nd ed.): 8-bit RGB, no interlace, every
/// scanline with filter type 0, the image data compressed by zlib through compress-nio.
enum PNG {
    /// - Throws: `NablaError.writeFailed` when compression fails.
    static func encode(width: Int, height: Int, rgb: [UInt8]) throws -> [UInt8] {
        precondition(rgb.count == width * height * 3, "rgb must be [height, width, 3]")
        var raw = ByteBufferAllocator().buffer(capacity: height * (1 + 3 * width))
        for y in 0..<height {
            raw.writeInteger(UInt8(0))
            raw.writeBytes(rgb[(y * width * 3)..<((y + 1) * width * 3)])
        }
        let compressed: ByteBuffer
        do {
            compressed = try raw.compress(with: .zlib())
        } catch {
            throw NablaError(.writeFailed, "PNG: zlib compression failed: \(error)")
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        for v in [UInt32(width), UInt32(height)] { header += bigEndian(v) }
        header += [8, 2, 0, 0, 0]  // bit depth 8, colour type 2 (RGB), deflate, filter 0, no interlace
        chunk("IHDR", header, into: &out)
        chunk("IDAT", Array(compressed.readableBytesView), into: &out)
        chunk("IEND", [], into: &out)
        return out
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)] }

    /// Length, type, data and the CRC-32 of type and data (the PNG specification's CRC).
    static func chunk(_ type: String, _ data: [UInt8], into out: inout [UInt8]) {
        let body = Array(type.utf8) + data
        out += bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    /// CRC-32 with polynomial 0xEDB88320, as the PNG specification's annex D defines it.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}
