/// What the built-in sample is, for `nabla info` without a file: the scene, the latent,
/// the stand-in settings and every head's recipe, and how long generating it took.
public struct SampleSummary: Sendable {
    public let scene: ProceduralScene
    public let options: SynthesisOptions
    public let grid: TokenGrid
    public let recipes: [HeadRecipe]
    public let block: BlockShape
    public let blocks: BlockGrid?
    /// Wall time of `BuiltinSample.load(options:)`, in milliseconds.
    public let generationMs: Double

    /// Generates the sample (timing it) and describes it.
    /// - Throws: as `BuiltinSample.load(options:)`.
    public init(synthesis: SynthesisOptions = SynthesisOptions(), block: BlockShape = .nabla, edge: EdgeMode = .pad) throws {
        var times = StageTimes()
        let input = try times.measure("generate") { try BuiltinSample.load(options: synthesis) }
        scene = BuiltinSample.scene
        options = synthesis
        grid = input.grid
        recipes = (0..<synthesis.heads).map(HeadRecipe.recipe(head:))
        self.block = block
        blocks = try? BlockGrid(grid: input.grid, block: block, edge: edge)
        generationMs = times.total
    }

    public func text() -> String {
        var lines = [
            "input      sample (built in: no file needed)",
            "scene      sky, sun, panning striped hills, a bouncing ball, a car; \(scene.frameCount) frames of \(scene.pixelHeight)x\(scene.pixelWidth) px",
            "latent     \(ProceduralScene.channels) channels, \(scene.latentFrames)x\(scene.latentHeight)x\(scene.latentWidth) (T x H x W): 4x in time, \(ProceduralScene.renderScale) px per voxel in space",
            "stand-in   patch \(options.patch) -> token grid \(grid) (\(grid.tokens) tokens), \(options.heads) heads, head dim \(options.headDim), seed \(options.seed)",
            blocks.map { "blocks     \(block) -> block grid \($0), N = \($0.count)" + ($0.edgeText.map { "\nedge       \($0)" } ?? "") } ?? "blocks     grid \(grid) is not divisible by block \(block); blocks that divide it: \(BlockShape.dividing(grid).map(\.description).joined(separator: ", "))",
            "generated  in \(fixed(generationMs, 1)) ms",
            "",
            "head  recipe",
        ]
        for (h, r) in recipes.enumerated() { lines.append(pad(String(h), 4) + "  " + r.description) }
        return lines.joined(separator: "\n")
    }

    public func json() -> JSON {
        return .object([
            ("kind", .string("sample")),
            ("latent", .object([("channels", .int(ProceduralScene.channels)),
                                ("size", JSON.triple(scene.latentFrames, scene.latentHeight, scene.latentWidth))])),
            ("grid", JSON.triple(grid.t, grid.h, grid.w)),
            ("heads", .int(options.heads)),
            ("head_dim", .int(options.headDim)),
            ("patch", JSON.triple(options.patch.pt, options.patch.ph, options.patch.pw)),
            ("seed", .int(Int(truncatingIfNeeded: options.seed))),
            ("block", JSON.triple(block.bt, block.bh, block.bw)),
            ("block_grid", blocks.map { JSON.triple($0.tb, $0.hb, $0.wb) } ?? .null),
            ("n", blocks.map { .int($0.count) } ?? .null),
            ("generation_ms", .number(round3(generationMs))),
            ("recipes", .array(recipes.map { r in
                .object([("bias", .string(r.bias.rawValue)), ("strength", .number(Double(r.strength))),
                         ("gain", .number(Double(r.gain))), ("role", .string(r.role))])
            })),
        ])
    }
}
