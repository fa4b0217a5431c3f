/// What a cell's colour means; the theme turns it into a terminal colour for the mode.
public enum ColorRole: Hashable, Sendable {
    /// The terminal's own foreground or background.
    case normal
    case muted
    case accent
    case title
    case error
    /// The selected block on the map.
    case cursor
    /// The query block's outline on the video preview.
    case outline
    case statusBar
    /// Dark text on bright backgrounds.
    case ink
    /// Compare overlay: kept by mask A only, by B only, by both; a pixel of several
    /// blocks where no kind holds more than half (`OverlayKind.mixed`).
    case onlyA, onlyB, both, mixed
    /// Follow view: a key tile kept only because of the STA window.
    case staOnly
    /// A kept block (or a pooled cell holding kept blocks): level `0..<Theme.rampLevels`
    /// of the perceptual ramp.
    case kept(UInt8)
    /// A dropped block: level `0..<Theme.droppedLevels` of a dim grey ramp.
    case dropped(UInt8)
    /// Video preview grey, level `0..<Theme.greyLevels`, dark to light.
    case grey(UInt8)
}
