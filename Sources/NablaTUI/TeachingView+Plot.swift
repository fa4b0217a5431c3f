import Foundation
import NablaCore
import NablaFigures

extension AppState {
    /// The view on screen as a figure (`Figures`, as `nabla plot` draws it): the open
    /// teaching view, the heads overview, or the block map of the current head.
    func figure() -> Figure? {
        guard let map, let mask else { return nil }
        let h = min(head, map.heads - 1), name = headIndex(h)
        let label = "\(inputName) · block \(map.blocks.block) · \(settings)"
        switch teaching {
        case .compare(let view)?:
            let quality = view.figures.flatMap { $0.head == h ? $0.quality : nil }
            return view.comparison.map {
                Figures.compare($0, head: h, title: "compare · head \(name) · \(inputName)",
                                recall: quality.map { ($0.recall[0][0], $0.recall[1][0]) },
                                error: quality?.error.map { ($0[0].overall, $0[1].overall) })
            }
        case .follow?:
            // With `t` on and the head's true block mass computed, the figure marks it as the screen shades it.
            let trueMass = showTrueMass ? attention.flatMap { $0.head == h ? $0.mass : nil } : nil
            return Figures.row(RowTrace(map: map, head: h, query: cursor.query, settings: settings),
                               title: "query block \(cursor.query) · head \(name) · \(label)",
                               trueMass: trueMass.map { m in (0..<map.n).map { m.mass(slot: 0, query: cursor.query, key: $0) } })
        case .sweep(let view)?:
            // What the screen shows: the head's recall from its kernel sweep, all heads' when done.
            let headRecall = view.kernels.flatMap { $0.head == h ? $0.sweep.recall?.map { $0[0] } : nil }
            return view.sweep.map { Figures.sweep($0, head: h, headName: name, current: threshold, title: "threshold sweep · head \(name) · \(inputName)",
                                                  headRecall: headRecall, allRecall: view.allHeadsRecall) }
        case nil:
            if overview {
                let selected = headIndices != Array(0..<map.heads)
                return Figures.overview(map: map, mask: mask, headIndices: headIndices,
                                        title: (selected ? "heads \(HeadSelection(headIndices))" : "every head") + " · \(label)")
            }
            return Figures.map(map: map, mask: mask, head: h, title: "head \(name) · \(percent(mask.statistics.density[h])) kept · \(label)")
        }
    }

    /// `:plot FILE.svg`, `FILE.png` or `FILE.pdf`: writes the view as `nabla plot` does
    /// (`FigureFile`: SVG text, PNG at 2 pixels per unit, PDF), replacing the file whole
    /// (`AtomicFile`), and says so in the status line. A user's command, done at once: a
    /// figure is a few megabytes at most and rasterises in well under a second.
    mutating func plot(to path: String) {
        guard let figure = figure() else {
            message = .error("nothing to plot yet")
            return
        }
        do {
            guard let format = FigureFormat(path: path) else { preconditionFailure("PromptCommand checks the extension") }
            try AtomicFile.write(try FigureFile.bytes(figure, format: format, scale: 2, name: path), to: path)
            message = .info("wrote \(path)")
        } catch let error as NablaError {
            message = .error(error.message)
        } catch {
            message = .error("\(path): \(error)")
        }
    }
}
