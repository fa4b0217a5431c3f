import NablaCore

extension Renderer {
    /// The threshold sweep view.
    mutating func drawSweep(_ view: SweepView) {
        heading("threshold sweep", in: layout.mapPanel)
    }
}
