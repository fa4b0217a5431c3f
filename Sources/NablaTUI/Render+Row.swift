import NablaCore

extension Renderer {
    /// The follow (row) view.
    mutating func drawFollow(_ view: FollowView) {
        heading("follow", in: layout.mapPanel)
    }
}
