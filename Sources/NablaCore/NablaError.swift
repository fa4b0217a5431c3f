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
    }

    public var code: Code
    /// One line, no trailing period needed by callers.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
