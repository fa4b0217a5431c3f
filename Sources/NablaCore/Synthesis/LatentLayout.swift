/// How the dimensions of a latent tensor in a file map to batch, channels, frames, rows
/// and columns (letters `b c t y x`), and why nabla reads them that way.
///
/// Accepted without options: `[C, T, H, W]`, `[T, H, W, C]` and `[1, C, T, H, W]` (the
/// layout of diffusers and Wan latents; a batch above 1 needs `batch`). For rank 4 the
/// channel axis is the first or last dimension of size <= 64 (`maxChannels`): when only
/// one end qualifies it is the channels; when both do, channels are taken last only if
/// the last dimension is smaller than the second (in `[T, H, W, C]` the channels sit
/// beside the rows, which are usually larger; in `[C, T, H, W]` the last dimension is
/// the columns, usually the largest). `axes` overrides all of this.
public struct LatentLayout: Sendable, Equatable {
    /// One letter per dimension of the tensor, from `b c t y x`.
    public let axes: [Character]
    /// The selected batch item (0 without a batch axis).
    public let batchIndex: Int
    /// Why the layout was chosen, one phrase for `nabla info` and messages.
    public let reason: Wording

    /// The largest channel count the rank-4 guess accepts at either end.
    public static let maxChannels = 64

    /// The accepted layouts, for error messages.
    public static let acceptedShapes: Wording =
        "[C, T, H, W], [T, H, W, C] or [1, C, T, H, W], or a layout named by \(wanted: .axes) (letters b c t y x)"

    /// Resolves the layout of a latent of `shape` named `name`.
    /// - Throws: `NablaError.badShape` for a rank or shape that fits no layout (naming
    ///   the shape and what is accepted), `.badArgument` for bad `--axes` letters or a
    ///   `--batch` out of range.
    public init(shape: [Int], name: String, axes: String?, batch: Int?) throws {
        let text = shapeText(shape)
        var letters: [Character]
        var reason: Wording
        if let axes {
            letters = try LatentLayout.parseAxes(axes)
            guard letters.count == shape.count else {
                throw NablaError(.badShape, "\(name): \(setting: .axes, "'\(axes)'") names \(letters.count) dimensions but the latent shape \(text) has \(shape.count)")
            }
            reason = "named by \(setting: .axes, "'\(axes)'")"
        } else {
            switch shape.count {
            case 5:
                letters = Array("bctyx")
                reason = "rank 5, read as [B, C, T, H, W] (the layout of diffusers and Wan latents)"
            case 4:
                let first = shape[0], last = shape[3], m = LatentLayout.maxChannels
                switch (first <= m, last <= m) {
                case (true, false):
                    letters = Array("ctyx")
                    reason = "channels first: the first dimension (\(first)) is <= \(m) and the last (\(last)) is not"
                case (false, true):
                    letters = Array("tyxc")
                    reason = "channels last: the last dimension (\(last)) is <= \(m) and the first (\(first)) is not"
                case (true, true) where last < shape[1]:
                    letters = Array("tyxc")
                    reason = "channels last: both ends are <= \(m) and the last (\(last)) is smaller than the second (\(shape[1])); \(wanted: .axes, "\"c t y x\"") says otherwise"
                case (true, true):
                    letters = Array("ctyx")
                    reason = "channels first: both ends are <= \(m) and the last (\(last)) is not smaller than the second (\(shape[1])); \(wanted: .axes, "\"t y x c\"") says otherwise"
                case (false, false):
                    throw NablaError(.badShape, "\(name): cannot tell the channel axis of latent shape \(text): neither the first (\(first)) nor the last (\(last)) dimension is <= \(m); name the axes with \(wanted: .axes) (letters b c t y x, e.g. \"c t y x\")")
                }
            default:
                throw NablaError(.badShape, "\(name): shape \(text) (rank \(shape.count)) is not a video latent: expected \(wording: LatentLayout.acceptedShapes)")
            }
        }
        guard letters.contains("y"), letters.contains("x") else {
            throw NablaError(.badShape, "\(name): the axes '\(String(letters))' of latent shape \(text) need rows y and columns x")
        }
        if let d = shape.firstIndex(of: 0) {
            throw NablaError(.badShape, "\(name): latent shape \(text) is empty (\(LatentLayout.axisName(letters[d])) has size 0)")
        }
        var index = 0
        if let b = letters.firstIndex(of: "b") {
            let size = shape[b]
            guard let chosen = batch ?? (size == 1 ? 0 : nil) else {
                throw NablaError(.badShape, "\(name): latent shape \(text) has a batch of \(size); choose one item with \(wanted: .batch, "I") (0...\(size - 1))")
            }
            guard (0..<size).contains(chosen) else {
                throw NablaError(.badArgument, "\(name): \(setting: .batch, String(chosen)) is out of range for a batch of \(size)")
            }
            index = chosen
        } else if let batch, batch != 0 {
            throw NablaError(.badArgument, "\(name): \(setting: .batch, String(batch)) given but latent shape \(text) has no batch axis")
        }
        self.axes = letters
        self.batchIndex = index
        self.reason = reason
    }

    /// The size of axis `letter` (`b c t y x`) in `shape`; 1 for an axis the layout lacks.
    public func size(_ letter: Character, in shape: [Int]) -> Int {
        axes.firstIndex(of: letter).map { shape[$0] } ?? 1
    }

    /// `[C, T, H, W]`-style text for the layout (`B` for a batch axis).
    public var layoutText: String {
        "[" + axes.map { LatentLayout.axisName($0) }.joined(separator: ", ") + "]"
    }

    static func axisName(_ c: Character) -> String {
        switch c {
        case "b": "B"
        case "c": "C"
        case "t": "T"
        case "y": "H"
        default: "W"
        }
    }

    /// Splits `"c t y x"`, `"ctyx"` or `"c,t,y,x"` into letters, each of `b c t y x` at most once.
    /// - Throws: `NablaError.badArgument` naming the bad letter or the repeat.
    public static func parseAxes(_ text: String) throws -> [Character] {
        try parseAxisLetters(text, allowed: "bctyx", kind: "latent axis")
    }
}
