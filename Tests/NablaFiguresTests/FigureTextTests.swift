import Foundation
import NablaCore
import NablaFigures
import Testing

/// Every figure carries its text in every format and keeps it inside its canvas (issue 20,
/// items 5 and 6): the words are measured as Cairo sets them, read back from the PDF by
/// poppler's pdftotext and from the PNG by tesseract's OCR where those are installed
/// (`.ci/run` installs them).
@Suite("Figures: text in every format, inside the canvas")
struct FigureTextTests {
    /// Q/K with structure (waves over t, y, x per head) on `grid`.
    static func input(grid: TokenGrid, heads: Int, name: String) -> QKInput {
        let s = grid.tokens, d = 8
        var q = [Float](repeating: 0, count: heads * s * d), k = q
        for h in 0..<heads { for tok in 0..<s {
            let t = tok / (grid.h * grid.w), y = (tok / grid.w) % grid.h, x = tok % grid.w
            for j in 0..<d {
                let pos = Float(j % 3 == 0 ? t : j % 3 == 1 ? y : x) / 3
                q[(h * s + tok) * d + j] = Float(2 + h % 3) * sin(pos * Float(j / 3 + 1) + Float(j))
                k[(h * s + tok) * d + j] = Float(2 + h % 3) * sin(pos * Float(j / 3 + 1) + Float(j) + 0.2 * Float(h))
            }
        } }
        return QKInput(name: name, q: HeadTokens(q, heads: heads, tokens: s, headDim: d), k: HeadTokens(k, heads: heads, tokens: s, headDim: d),
                       grid: grid, order: .raster)
    }

    /// Every view's figure for `input`, with the titles the commands give (long names make long titles).
    static func figures(_ input: QKInput) throws -> [(String, Figure)] {
        let map = try #require(try PooledMap.compute(input, block: .nabla))
        let settings = MaskSettings(threshold: 0.9, sta: STAWindow(wt: 3, wh: 3, ww: 3))
        let mask = map.cut(settings)
        let label = "\(input.name) · block 1x8x8 · thr 0.90 + STA 3x3x3"
        var maps: [BlockShape: PooledMap] = [.nabla: map]
        let a = try SpecifiedMask.make(MaskSpec(.cut(settings), block: .nabla), input: input, maps: &maps)
        let b = try SpecifiedMask.make(MaskSpec(.sta(STAWindow(wt: 3, wh: 3, ww: 3)), block: .nabla), input: input, maps: &maps)
        let sweep = try ThresholdSweep(map: map, sta: nil, thresholds: stride(from: 0.0, through: 1.0, by: 0.05).map { $0 })
        return [
            ("map", Figures.map(map: map, mask: mask, head: 0, title: "head 0 · \(percent(mask.statistics.density[0])) kept · \(label)")),
            ("coverage", Figures.coverage(mask: mask, head: 0, title: "frame coverage · head 0 · \(label)")),
            ("row", Figures.row(RowTrace(map: map, head: 0, query: map.n / 2, settings: settings), title: "row · head 0 · \(label)")),
            ("row with true mass", Figures.row(RowTrace(map: map, head: 0, query: map.n / 2, settings: settings), title: "row · head 0 · \(label)",
                                               trueMass: (0..<map.n).map { map.probability(head: 0, query: map.n / 2, key: $0) })),
            ("sweep", Figures.sweep(sweep, head: 0, current: 0.9, title: "threshold sweep · head 0 · \(label)")),
            ("compare", Figures.compare(MaskComparison(a, b), head: 0, title: "compare · head 0 · \(input.name)",
                                        recall: (0.912345, 0.812345), error: (1.2345e-2, 3.4567e-2))),
            ("overview", Figures.overview(map: map, mask: mask, title: "every head · \(label)")),
        ]
    }

    /// The smallest inputs a view draws (one frame slab of 2x1 blocks, one head) and large
    /// ones (many slabs and heads, a long file name).
    static let inputs: [(TokenGrid, Int, String)] = [
        (TokenGrid(t: 1, h: 8, w: 16), 1, "q.npy"),
        (TokenGrid(t: 2, h: 16, w: 16), 3, "sample"),
        (TokenGrid(t: 40, h: 16, w: 16), 24,
         "/data/captures/wan2.1-t2v-14B/720p/run-2026-11-30/layer39.step049.attention.safetensors"),
    ]

    @Test("every text of every figure lies inside its canvas, measured as Cairo sets it", arguments: inputs.indices)
    func textInside(index: Int) throws {
        let (grid, heads, name) = Self.inputs[index]
        for (view, figure) in try Self.figures(Self.input(grid: grid, heads: heads, name: name)) {
            let boxes = FigureFile.textBoxes(figure)
            #expect(!boxes.isEmpty, "\(view) has no text")
            for box in boxes {
                #expect(box.minX >= 0 && box.maxX <= figure.width && box.minY >= 0 && box.maxY <= figure.height,
                        "\(view) \(grid): '\(box.text)' at x \(Int(box.minX))-\(Int(box.maxX)), y \(Int(box.minY))-\(Int(box.maxY)) leaves the \(Int(figure.width))x\(Int(figure.height)) canvas")
            }
            // The title is kept (shrunk or cut, never dropped).
            #expect(boxes.first?.text.prefix(8) == figure.title?.prefix(8), "\(view)")
        }
    }

    /// Runs `tool` with `arguments`, or `nil` when it is not installed.
    static func run(_ tool: String, _ arguments: [String]) throws -> String? {
        guard let path = ["/usr/bin/", "/usr/local/bin/"].map({ $0 + tool }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return nil
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    @Test("PDF: vector, fonts embedded, and pdftotext reads every figure's title and axis words back")
    func pdfText() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nabla-fig-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (view, figure) in try Self.figures(Self.input(grid: TokenGrid(t: 2, h: 16, w: 16), heads: 3, name: "sample")) {
            let bytes = try FigureFile.bytes(figure, format: .pdf, name: "\(view).pdf")
            #expect(bytes.starts(with: Array("%PDF-".utf8)), "\(view)")
            let file = "\(dir)/\(view).pdf"
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            guard let text = try Self.run("pdftotext", [file, "-"]) else {
                #expect(!Self.inCI, "pdftotext (poppler-utils) is missing; .ci/run installs it")
                return
            }
            let title = try #require(figure.title)
            #expect(text.contains(String(title.prefix(20))), "\(view): pdftotext read \(text.prefix(200))")
            if let fonts = try Self.run("pdffonts", [file]) {
                #expect(fonts.contains("DejaVu") && fonts.contains("yes"), "\(view): \(fonts)")
            }
        }
    }

    @Test("PNG: the sweep's title and legend are pixels OCR reads back (the old writer left all text out)")
    func pngText() throws {
        let figure = try Self.figures(Self.input(grid: TokenGrid(t: 2, h: 16, w: 16), heads: 3, name: "sample")).first { $0.0 == "sweep" }!.1
        let bytes = try FigureFile.bytes(figure, format: .png, scale: 2, name: "s.png")
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nabla-fig-\(getpid()).png").path
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        guard let text = try Self.run("tesseract", [file, "-"]) else {
            #expect(!Self.inCI, "tesseract (tesseract-ocr) is missing; .ci/run installs it")
            return
        }
        for word in ["threshold", "sweep", "density", "mass"] {
            #expect(text.lowercased().contains(word), "OCR of the sweep PNG lacks '\(word)': \(text)")
        }
    }

    @Test("a text too long for any size is cut with an ellipsis, and a short one is left as it is")
    func fitting() {
        var fig = Figure(width: 200, height: 100)
        fig.add(.text(x: 10, y: 20, String(repeating: "wide words ", count: 30), size: 14))
        fig.add(.text(x: 10, y: 40, "short", size: 11))
        fig.add(.text(x: 100, y: 60, "centred and far too long to fit either side of the middle", size: 11, anchor: "middle"))
        let fitted = fig.fitted()
        guard case .text(_, _, let long, let size, _, _) = fitted.items[0], case .text(_, _, let short, let size2, _, _) = fitted.items[1] else {
            Issue.record("texts lost")
            return
        }
        #expect(long.hasSuffix("…") && size == 7)
        #expect(short == "short" && size2 == 11)
        for box in FigureFile.textBoxes(fig) { #expect(box.minX >= 0 && box.maxX <= 200, "\(box.text)") }
    }
}
