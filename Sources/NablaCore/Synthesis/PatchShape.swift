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

    /// The token grid `T/pt x H/ph x W/pw` this patch makes of a latent of
    /// `frames x height x width` named `name`.
    /// - Throws: `NablaError.badGrid` naming the patch, the latent and the dimension it
    ///   does not divide.
    public func tokenGrid(frames: Int, height: Int, width: Int, name: String) throws -> TokenGrid {
        let dims = [("T", frames, pt), ("H", height, ph), ("W", width, pw)]
        if let (axis, size, p) = dims.first(where: { $0.1 % $0.2 != 0 }) {
            throw NablaError(.badGrid, "patch \(self) does not divide latent \(name) of \(frames)x\(height)x\(width) (T x H x W): \(axis) = \(size) is not a multiple of \(p)")
        }
        return TokenGrid(t: frames / pt, h: height / ph, w: width / pw)
    }
}
