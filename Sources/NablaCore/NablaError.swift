/// The one error type NablaCore throws for bad input.
///
/// Every message is a single line that names what was wrong and where (the file, the
/// tensor, the field and the offending values), ready to print after `error: `.
/// Impossible internal states are `precondition`s, never `NablaError`s.
public struct NablaError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of problem it is, for callers that branch on it (and for tests).
    public enum Code: String, Sendable, CaseIterable {
        /// The file does not exist or cannot be opened or mapped.
        case fileUnreadable
        /// The bytes of a tensor file break its format (magic, header, offsets, sizes).
        case malformedFile
        /// The file is well-formed but uses a dtype or feature nabla does not read.
        case unsupported
        /// A `FILE:KEY` names a key the file does not hold, or a key is needed.
        case missingTensor
        /// A tensor's shape fits none of the accepted layouts, or Q and K disagree.
        case badShape
        /// The grid is not divisible by the block shape, or a grid/shape string is bad.
        case badGrid
        /// A tensor holds NaN or infinity.
        case nonFinite
        /// A command-line or prompt argument is out of range or unparsable.
        case badArgument
        /// Writing an output file failed.
        case writeFailed
        /// The work would need more memory than is available (`MaskMemory`).
        case tooLarge
        /// The caller stopped the work (the app's Esc during a load); nothing is kept.
        case cancelled
    }

    public var code: Code
    /// The message in parts: text, and the input settings it names (see `Wording`).
    public var wording: Wording

    /// One line in the engine's own terms (settings named as "grid 2x8x8 (given by the
    /// caller)"); a front end names them its own way with `message(naming:)`.
    public var message: String { wording.text() }

    /// The message with each input setting named by `names` (the command line names
    /// them as flags: `--grid 2x8x8`).
    public func message(naming names: SettingNames) -> String { wording.text(naming: names) }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.wording = Wording(message)
    }

    /// An error whose message names input settings: `"\(setting: .grid, "2x8x8") disagrees"`.
    public init(_ code: Code, _ wording: Wording) {
        self.code = code
        self.wording = wording
    }

    public var description: String { message }
}
