/// The patch of a video DiT's patch embedding: `pt x ph x pw` latent voxels (frames,
/// rows, columns) become one token. Wan 2.1 and Kandinsky 5 use `1x2x2`.
public struct PatchShape: Hashable, Sendable, CustomStringConvertible {
    public var pt: Int
    public var ph: Int
    public var pw: Int

    public init(pt: Int, ph: Int, pw: Int) {
        precondition(pt > 0 && ph > 0 && pw > 0, "patch dimensions must be positive")
        self.pt = pt
        self.ph = ph
        self.pw = pw
    }

    /// `1x2x2`, the patch of Wan 2.1 and Kandinsky 5.
    public static let standard = PatchShape(pt: 1, ph: 2, pw: 2)

    /// Latent voxels per token, `pt * ph * pw`.
    public var volume: Int { pt * ph * pw }

    /// `"PTxPHxPW"`.
    public var description: String { "\(pt)x\(ph)x\(pw)" }

    /// Parses `"PTxPHxPW"` (positive integers).
    /// - Throws: `NablaError.badGrid` naming `what` and the text.
    public init(parsing text: String, what: String = "patch") throws {
        let v = try parseTriple(text, what: what)
        self.init(pt: v.0, ph: v.1, pw: v.2)
    }
}
