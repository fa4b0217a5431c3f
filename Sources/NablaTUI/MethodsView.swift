import NablaCore

/// The methods view (`M`, also from the sweep view): recall of the true attention against
/// density, one curve per sparse method of `SparseMethods.all` (issue 21), for the head on
/// screen or all heads averaged (`a`), with the app's current settings (the nabla cut at
/// thr and STA) marked. A cursor walks the points (`←→` along a curve, `↑↓` between
/// curves) and `Enter` makes the method's mask at that point B of the compare view.
///
/// The curves are `MethodSweep`s made in background teaching jobs: first the head alone
/// (an input of that one head, as the sweep view's kernel figures are), then every head.
/// Each is asked for a map and head (`TeachingWorkKey`); a result for another one, or of a
/// superseded teaching generation, is dropped. The curves do not depend on the app's
/// settings: a threshold or STA change only moves the marker, a small job that cuts the
/// pooled map at the new settings and reads its recall from the sweep's own true mass
/// (`MethodsResult.context`), without sweeping the methods again.
public struct MethodsView: Sendable {
    /// The sweep of the head alone (slot 0 is `head`), then that of every head.
    public var head: MethodsResult?
    public var all: MethodsResult?
    /// Why a sweep could not be made (a grid the methods refuse, memory).
    public var headProblem: String?
    public var allProblem: String?
    /// The curves of every head averaged rather than of the head on screen.
    public var showAll = false
    /// The selected point: curve (method) and row (setting) of the shown sweep.
    public var cursor = MethodsCursor()
    /// Opened from the sweep view: Esc goes back there.
    public var fromSweep = false
    var headKey: TeachingWorkKey?
    var allKey: TeachingWorkKey?
    /// The settings a marker job was asked at, while it runs.
    var markAsked: MaskSettings?

    public init(fromSweep: Bool = false) { self.fromSweep = fromSweep }

    /// The result on screen: every head's when `showAll`, else the head's.
    public var shown: MethodsResult? { showAll ? all : head }
}

/// What one methods sweep was made from: the pooled map and true mass of the head alone
/// or of every head (`allHeads`), kept so that the marker moves without a new sweep.
public struct MethodsMarkPart: Sendable {
    public var allHeads: Bool
    public var map: PooledMap
    public var mass: TrueBlockMass
}

/// A point of the methods view: curve `curve` (a method), its row `row` in density order.
public struct MethodsCursor: Sendable, Equatable {
    public var curve = 0
    public var row = 0
}

/// One background sweep of the methods view.
public struct MethodsResult: Sendable {
    /// Every method over its own parameter range (`MethodSweep`, per head `[heads]`).
    public var sweep: MethodSweep
    /// The nabla mask at the settings the sweep was asked at, as a row of its own.
    public var current: MethodSweep.Row
    /// The head (position) of a sweep of the head alone; `nil` for every head.
    public var head: Int?
    /// What the sweep was made from (its pooled map and true mass, kept), for the marker.
    public var made: MethodsMarkPart
    /// The settings `current` was made at.
    public var markedAt: MaskSettings

    /// Points `(density, recall)` of curve `c` in ascending density (ties by row order),
    /// with the row each came from: slot 0 for the head, means over heads otherwise.
    public func points(_ c: Int) -> [(density: Double, recall: Double, row: Int)] {
        sweep.curves[c].rows.enumerated().map { i, r in (Self.density(r), Self.recall(r), i) }
            .sorted { $0.density < $1.density || ($0.density == $1.density && $0.row < $1.row) }
    }

    /// The row's density (slot 0 of a one-head sweep equals the mean).
    public static func density(_ r: MethodSweep.Row) -> Double { r.meanDensity }
    public static func recall(_ r: MethodSweep.Row) -> Double { r.meanRecall }
}

extension AppState {
    /// Opens the methods view (from the sweep view: Esc returns there); `M` in it leaves.
    mutating func toggleMethods() {
        if case .methods? = teaching {
            leaveTeaching()
            return
        }
        var fromSweep = false
        if case .sweep? = teaching { fromSweep = true }
        teaching = .methods(MethodsView(fromSweep: fromSweep))
    }

    /// Esc in a teaching view: the methods view opened from the sweep goes back to it;
    /// any other closes.
    mutating func leaveTeaching() {
        if case .methods(let view)? = teaching, view.fromSweep {
            teaching = .sweep(SweepView())
            refreshTeaching()
        } else {
            teaching = nil
        }
    }

    /// A key of `Keymap.methods` in the methods view.
    mutating func methodsAction(_ action: MethodsAction) -> [Effect] {
        guard case .methods(var view)? = teaching else { return [] }
        switch action {
        case .toggleHeads:
            view.showAll.toggle()
        case .point(let d):
            if let result = view.shown {
                let count = result.sweep.curves[min(view.cursor.curve, result.sweep.curves.count - 1)].rows.count
                view.cursor.row = min(max(view.cursor.row + d, 0), max(count - 1, 0))
            }
        case .method(let d):
            if let result = view.shown {
                let curves = result.sweep.curves
                view.cursor.curve = min(max(view.cursor.curve + d, 0), curves.count - 1)
                view.cursor.row = min(view.cursor.row, max(curves[view.cursor.curve].rows.count - 1, 0))
            }
        case .compare:
            guard let map, let row = selectedMethodRow(view) else {
                message = .error("no point selected yet: the methods' curves are still computing")
                return []
            }
            teaching = .compare(CompareView(spec: MaskSpec(.method(row.spec), block: map.blocks.block)))
            refreshTeaching()
            return []
        }
        teaching = .methods(view)
        return []
    }

    /// The row under the methods view's cursor.
    func selectedMethodRow(_ view: MethodsView) -> MethodSweep.Row? {
        guard let result = view.shown, result.sweep.curves.indices.contains(view.cursor.curve) else { return nil }
        let points = result.points(view.cursor.curve)
        guard points.indices.contains(view.cursor.row) else { return nil }
        return result.sweep.curves[view.cursor.curve].rows[points[view.cursor.row].row]
    }

    /// The methods view's sweeps for the current map and head: the head's first (what the
    /// view draws from), then every head's; then, when the settings moved since, the
    /// marker of each. `nil` when nothing is to ask.
    mutating func requestMethodsWork(input: QKInput, map: PooledMap, head: Int) -> [Effect]? {
        guard case .methods(var view)? = teaching else { return nil }
        // The curves are the same at every threshold and STA window: the keys leave them out.
        let neutral = MaskSettings(threshold: 0, sta: nil)
        let headKey = TeachingWorkKey(map: map.id, head: head, settings: neutral, spec: nil)
        let allKey = TeachingWorkKey(map: map.id, head: -1, settings: neutral, spec: nil)
        if view.headKey != headKey {
            view.headKey = headKey
            view.head = nil
            view.headProblem = nil
            view.markAsked = nil
            if view.allKey != allKey || view.all == nil {
                view.allKey = nil
                view.all = nil
                view.allProblem = nil
            }
            return askMethods(view, .methods(settings: settings, allHeads: false, key: headKey), input: input, map: map, head: head)
        }
        guard view.head != nil || view.headProblem != nil else { return [] }
        // The marker of every made sweep whose marker is at other settings, before every
        // head's sweep (it is quick, and on screen); a sweep of every head it supersedes
        // is asked again after it.
        let stale = [view.head, view.all].compactMap { $0 }.filter { $0.markedAt != settings }
        if !stale.isEmpty {
            guard view.markAsked != settings else { return [] }
            view.markAsked = settings
            if view.all == nil && view.allProblem == nil { view.allKey = nil }
            return askMethods(view, .methodsMark(settings: settings, parts: stale.map(\.made), key: headKey),
                              input: input, map: map, head: head)
        }
        guard view.allKey != allKey else { return [] }
        view.allKey = allKey
        view.all = nil
        view.allProblem = nil
        return askMethods(view, .methods(settings: settings, allHeads: true, key: allKey), input: input, map: map, head: head)
    }

    /// Stores `view` and asks for `work` in a new teaching generation.
    private mutating func askMethods(_ view: MethodsView, _ work: TeachingJob.Work, input: QKInput, map: PooledMap,
                                     head: Int) -> [Effect] {
        teaching = .methods(view)
        return submitTeaching(TeachingJob(input: input, blocks: map.blocks, head: head, work: work))
    }

    /// Takes in a methods sweep asked as `key` (dropped when the view asks for another).
    mutating func applyMethods(_ result: MethodsResult?, problem: String?, key: TeachingWorkKey) {
        guard case .methods(var view)? = teaching else { return }
        if key == view.headKey && key.head >= 0 {
            view.head = result
            view.headProblem = problem
        } else if key == view.allKey && key.head < 0 {
            view.all = result
            view.allProblem = problem
        } else {
            return
        }
        teaching = .methods(view)
    }

    /// Takes in the markers at `settings` (one per part asked: the head's sweep, every
    /// head's) when the view still shows the sweeps they were asked for.
    mutating func applyMethodsMark(_ rows: [(allHeads: Bool, row: MethodSweep.Row)], settings: MaskSettings, key: TeachingWorkKey) {
        guard case .methods(var view)? = teaching, key == view.headKey else { return }
        for (allHeads, row) in rows {
            if allHeads {
                view.all?.current = row
                view.all?.markedAt = settings
            } else {
                view.head?.current = row
                view.head?.markedAt = settings
            }
        }
        if view.markAsked == settings { view.markAsked = nil }
        teaching = .methods(view)
    }
}
