/// The views a figure can be drawn of: what `nabla plot --view` takes, and what the app's
/// `:plot` draws for the view on screen (`AppState.figureView`). One list for both.
public enum FigureView: String, CaseIterable, Sendable {
    /// The block map of one head: kept blocks by log10 P, dropped in grey.
    case map
    /// The frame coverage of one head.
    case coverage
    /// One query block's row through the cut (the follow view).
    case row
    /// Density, mass kept and recall over the threshold (the sweep view).
    case sweep
    /// The mask against another (the compare view).
    case compare
    /// Every head's block map (the heads overview).
    case overview
    /// Recall against density of the sparse-attention methods (`nabla sweep --method`).
    case methods

    /// The names, as messages list them: `map, coverage, row, sweep, compare, overview, methods`.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
