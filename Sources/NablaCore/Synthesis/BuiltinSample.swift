/// The input nabla opens when given none: Q, K and V that a stand-in attention layer
/// (`AttentionStandIn`) derives from the latent of a procedural video
/// (`ProceduralScene`), named "sample".
///
/// Default size: a 16x64x96 latent (16 channels) patchified 1x2x2 into a 16x32x48 token
/// grid (24,576 tokens), 8 heads of dimension 64; 384 blocks of the default 1x8x8 block.
/// The preview is the rendered video's luminance and colour pooled to the token grid.
public enum BuiltinSample {
    /// The scene of the sample.
    public static let scene = ProceduralScene()

    /// The sample's latent, `[16, 16, 64, 96]`, named "sample".
    public static func latent() -> VideoLatent {
        scene.encode(name: "sample").latent
    }

    /// Generates the sample in memory.
    /// - Throws: `NablaError.badArgument` for options out of range, `.badGrid` for a
    ///   patch that does not divide the 16x64x96 latent.
    /// - Complexity: O(video pixels + S * F * heads * D).
    public static func load(options: SynthesisOptions = SynthesisOptions(), scene: ProceduralScene = scene) throws -> QKInput {
        try options.validate()
        let (latent, luminance, rgb) = scene.encodeWithColour(name: "sample")
        let preview = try VideoPreview.pooled(luminance, frames: latent.frames, height: latent.height,
                                              width: latent.width, patch: options.patch, latentName: "sample", rgb: rgb)
        return try AttentionStandIn.input(from: latent, options: options, name: "sample", preview: preview)
    }
}
