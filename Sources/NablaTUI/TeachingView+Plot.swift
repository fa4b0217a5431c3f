import Foundation
import NablaCore
import NablaFigures

extension AppState {
    /// The figure view of what the screen shows (the one list `nabla plot --view` takes):
    /// the open teaching view, the heads overview, or the block map.
    public var figureView: FigureView {
        switch teaching {
        case .compare?: .compare
        case .follow?: .row
        case .sweep?: .sweep
        case .methods?: .methods
        case nil: overview ? .overview : .map
        }
    }

    /// The view on screen as a figure (`Figures`, as `nabla plot` draws it), or `nil`
    /// while what it draws is not computed yet.
    func figure() -> Figure? {
        guard let map, let mask else { return nil }
        let h = currentHead, name = headIndex(h)
        let label = "\(inputName) · block \(map.blocks.block) · \(settings)"
        switch (figureView, teaching) {
        case (.compare, .compare(let view)?):
            let quality = view.figures.flatMap { $0.head == h ? $0.quality : nil }
            return view.comparison.map {
                Figures.compare($0, head: h, title: "compare · head \(name) · \(inputName)",
                                recall: quality.map { ($0.recall[0][0], $0.recall[1][0]) },
                                error: quality?.error.map { ($0[0].overall, $0[1].overall) })
            }
        case (.row, _):
            // With `t` on and the head's true block mass computed, the figure marks it as the screen shades it.
            let trueMass = showTrueMass ? attention.flatMap { $0.head == h ? $0.shownMass : nil } : nil
            return Figures.row(RowTrace(map: map, head: h, query: cursor.query, settings: settings),
                               title: "query block \(cursor.query) · head \(name) · \(label)",
                               trueMass: trueMass.map { m in (0..<map.n).map { m.mass(slot: 0, query: cursor.query, key: $0) } })
        case (.sweep, .sweep(let view)?):
            // What the screen shows: the head's recall from its kernel sweep, all heads' when done.
            let headRecall = view.kernels.flatMap { $0.head == h ? $0.sweep.recall?.map { $0[0] } : nil }
            return view.sweep.map { Figures.sweep($0, head: h, headName: name, current: threshold, title: "threshold sweep · head \(name) · \(inputName)",
                                                  headRecall: headRecall, allRecall: view.allHeadsRecall) }
        case (.methods, .methods(let view)?):
            guard let result = view.shown else { return nil }
            let c = result.current
            return Figures.methods(result.sweep, head: nil,
                                   title: "sparse methods · " + (result.head == nil ? "all heads" : "head \(name)") + " · \(inputName)",
                                   marks: [(c.meanDensity, c.meanRecall, "\(settings)")])
        case (.overview, _):
            let selected = headIndices != Array(0..<map.heads)
            return Figures.overview(map: map, mask: mask, headIndices: headIndices,
                                    title: (selected ? "heads \(HeadSelection(headIndices))" : "every head") + " · \(label)")
        case (.coverage, _):
            return Figures.coverage(mask: mask, head: h, title: "frame coverage · head \(name) · \(label)")
        case (.map, _), (.compare, _), (.sweep, _), (.methods, _):
            return Figures.map(map: map, mask: mask, head: h, title: "head \(name) · \(percent(mask.statistics.density[h])) kept · \(label)")
        }
    }

    /// Asks for the figure of what the screen shows to be written to `path` (the runtime
    /// writes it, off the reducer).
    mutating func plot(to path: String) -> [Effect] {
        guard let figure = figure() else {
            message = .error("nothing to plot yet")
            return []
        }
        return [.writeFigure(figure, path: path, generation: generations.advance(.files))]
    }
}
