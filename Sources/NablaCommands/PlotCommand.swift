import ArgumentParser
import Foundation
import NablaCore
import NablaFigures
import NablaTUI

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Write a view as a figure for slides and papers: SVG, PNG or PDF, with its text.",
        discussion: """
        Views: map (block map of --head: kept blocks by log10 P, dropped in grey, the kept outline \
        when one cell is one block, frame slabs labelled, colour bar), coverage (frame coverage with \
        values), row (query block --query through the cut: sorted probabilities, running sum, \
        threshold, STA-only blocks), sweep (density, mass kept and recall over thr), compare (the \
        mask against --compare SPEC, as nabla diff takes, with each one's recall and, with V, error), overview (every head), \
        methods (recall against density of every sparse-attention method nabla sweep --method compares, all heads \
        averaged or --head, the --threshold cut marked). The format \
        follows the extension of --out; files are replaced whole.
        """
    )

    @OptionGroup var input: InputOptions
    @OptionGroup var mask: MaskOptions

    @Option(parsing: .unconditional, help: "View: map, coverage, row, sweep, compare, overview or methods.")
    var view: String = "map"

    @Option(parsing: .unconditional, help: ArgumentHelp("Output file, .svg, .png or .pdf.", valueName: "FILE"))
    var out: String

    @Option(parsing: .unconditional, help: "Head (0-based tensor index; default: the first loaded head).")
    var head: Int?

    @Option(parsing: .unconditional, help: "Query block of the row view (raster over the block grid; default the middle one).")
    var query: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Mask B of the compare view (a nabla diff spec).", valueName: "SPEC"))
    var compare: String = "sta=11x3x3"

    @Option(parsing: .unconditional, help: "Pixels per figure unit of a PNG (default 2; SVG and PDF are vector).")
    var scale: Double?

    func validate() throws {
        guard FigureView(rawValue: view) != nil else {
            throw ValidationError("--view '\(view)' is not one of \(FigureView.names)")
        }
        guard FigureFormat(path: out) != nil else { throw ValidationError("--out \(out): give a \(FigureFormat.extensionList) file") }
        if let head, head < 0 { throw ValidationError("--head \(head) is below 0 (heads are numbered from 0)") }
        if let scale {
            guard FigureFormat(path: out) == .png else { throw ValidationError("--scale goes with a .png --out (SVG and PDF are vector)") }
            guard scale > 0 && scale <= 8 else { throw ValidationError("--scale \(scale) is outside (0, 8]") }
        }
    }

    func run() throws {
        let qk = try input.spec(orderBlock: mask.block).load()
        try refuseText(qk, command: "plot")
        noteEdge(qk, block: mask.block, given: input.edge, reported: false)
        // --head names a tensor index (default: the first loaded head); the engine's arrays
        // hold the loaded heads in order.
        let head = self.head ?? qk.headIndices[0]
        guard let h = qk.headIndices.firstIndex(of: head) else {
            throw NablaError(.badArgument, "--" + HeadSelection.missing(head, headIndices: qk.headIndices))
        }
        let progress = StderrProgress(label: "plot")
        defer { progress.finish() }
        guard let map = try PooledMap.compute(qk, block: mask.block, progress: { progress.report($0, $1, $2) },
                                              isCancelled: { false }) else { preconditionFailure("uncancellable") }
        let settings = mask.settings
        let cut = map.cut(settings)
        let label = "\(qk.name) · block \(mask.block) · \(settings)"
        let figure: Figure
        guard let view = FigureView(rawValue: self.view) else { preconditionFailure("validated") }
        switch view {
        case .coverage:
            figure = Figures.coverage(mask: cut, head: h, title: "frame coverage · head \(head) · \(label)")
        case .row:
            let q = query ?? map.n / 2
            guard (0..<map.n).contains(q) else {
                throw NablaError(.badArgument, "--query \(q) is out of range: the block grid has \(map.n) blocks (0...\(map.n - 1))")
            }
            figure = Figures.row(RowTrace(map: map, head: h, query: q, settings: settings),
                                 title: "query block \(q) · head \(head) · \(label)")
        case .sweep:
            let flops = 2 * Double(qk.headDim) * Double(qk.grid.tokens * qk.grid.tokens) * Double(qk.heads)
            let ticks = KernelTicks(progress: progress, label: "heads \(HeadSelection(qk.headIndices))",
                                    perRun: map.heads * map.n + 1, runs: 1)
            let sweep = try ThresholdSweep(map: map, sta: settings.sta, thresholds: (0...20).map { Double($0) / 20 },
                                           input: qk, recall: flops <= 2e10, isCancelled: ticks.tick)
            figure = Figures.sweep(sweep, head: h, headName: head, current: settings.threshold, title: "threshold sweep · head \(head) · \(qk.name)")
        case .compare:
            let specB = try MaskSpec(parsing: compare)
            if let b = specB.block, b != mask.block {
                throw NablaError(.badArgument, "--compare \(compare): the overlay needs one block shape; nabla diff compares block shapes")
            }
            progress.update(stage: "compare", detail: "masks, recall and error of head \(head)", done: nil, total: nil)
            let report = try DiffReport(input: qk, a: MaskSpec(.cut(settings)), b: specB, block: mask.block)
            guard report.comparison.a.blocks == report.comparison.b.blocks else {
                throw NablaError(.badArgument, "--compare \(compare): the overlay needs one block shape; nabla diff compares block shapes")
            }
            // Recall and error only for the head drawn (the kernels on every head would take
            // heads times as long); a mask file holds every head, so it is measured whole.
            var measured = (report: report, slot: h)
            if case .file = specB.kind {
                measured.report = try DiffReport(input: qk, a: MaskSpec(.cut(settings)), b: specB, block: mask.block,
                                                 recall: true, error: qk.v != nil)
            } else {
                measured = (try DiffReport(input: qk.selecting(HeadSelection([h])), a: MaskSpec(.cut(settings)), b: specB,
                                           block: mask.block, recall: true, error: qk.v != nil), 0)
            }
            figure = Figures.compare(report.comparison, head: h, title: "compare · head \(head) · \(qk.name)",
                                     recall: measured.report.recall.map { ($0.a[measured.slot], $0.b[measured.slot]) },
                                     error: measured.report.error.map { ($0.a.perHead[measured.slot], $0.b.perHead[measured.slot]) })
        case .methods:
            figure = try methodsFigure(qk, map: map, settings: settings)
        case .overview:
            figure = Figures.overview(map: map, mask: cut, headIndices: qk.headIndices,
                                      title: (qk.headIndices == Array(0..<qk.heads) ? "every head" : "heads \(HeadSelection(qk.headIndices))") + " · \(label)")
        case .map:
            figure = Figures.map(map: map, mask: cut, head: h, title: "head \(head) · \(percent(cut.statistics.density[h])) kept · \(label)")
        }
        guard let format = FigureFormat(path: out) else { preconditionFailure("validated") }
        progress.update(stage: "write", detail: out, done: nil, total: nil)
        try AtomicFile.write(try FigureFile.bytes(figure, format: format, scale: scale ?? 2, name: out), to: out)
        progress.finish()
        // A large map is drawn pooled to about the output's resolution; the figure and this line say how.
        let pooled = [.map, .compare, .overview].contains(view) ? Figures.scaleNote(n: map.n, cap: view == .overview ? Figures.overviewCap(heads: qk.heads) : 256) : nil
        print("wrote      \(out) (\(view)\(pooled.map { "; " + $0 } ?? ""))")
    }
}
