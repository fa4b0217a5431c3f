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
    /// Video preview colour: index `0..<216` of the 6x6x6 cube (`36 r + 6 g + b`, each
    /// `0..<6` on xterm's levels 0, 95, 135, 175, 215, 255), so a frame uses at most 216
    /// colours in any mode.
    case video(UInt8)

    /// The cube colour nearest `(r, g, b)` in `[0, 1]`.
    static func video(r: Float, g: Float, b: Float) -> ColorRole {
        func level(_ v: Float) -> Int {
            let x = Int((min(max(v, 0), 1) * 255).rounded())
            return x < 48 ? 0 : x < 115 ? 1 : x < 155 ? 2 : x < 195 ? 3 : x < 235 ? 4 : 5
        }
        return .video(UInt8(36 * level(r) + 6 * level(g) + level(b)))
    }
}
