import Foundation

/// One complete mask computation as the command line reports it: the input, the map,
/// the mask, its FlexAttention rows, and the time every stage took.
public struct MaskReport: Sendable {
    public let inputName: String
    public let grid: TokenGrid
    public let order: TokenOrder
    public let headDim: Int
    /// The tensor index of each head (see `QKInput.headIndices`).
    public let headIndices: [Int]
    /// The pooled map of every head, kept for re-cuts; `nil` when the report was computed
    /// head by head (`keepMap: false`).
    public let map: PooledMap?
    public let blocks: BlockGrid
    public let heads: Int
    public let mask: BlockMask
    /// The sparse-attention method that made the mask when it is not NABLA's cut
    /// (`init(input:block:method:context:)`); `mask.settings` then means nothing.
    public internal(set) var method: MethodSpec?
    /// The joint text-video sequence when the input has text tokens (`QKInput.text`): the
    /// written mask and BlockMask rows are then on its joint blocks (`MaskReport+Text`).
    public internal(set) var sequence: JointSequence?
    /// FlexAttention `kv_num_blocks`, `[heads, N]`.
    public let kvNumBlocks: [Int32]
    /// FlexAttention `kv_indices`, `[heads, N, N]` int32, made whole on each use
    /// (`4 * heads * N^2` bytes: 813 MB at N = 5040 and 8 heads); the file writer
    /// streams the rows instead (`BlockMask.forEachKVIndicesChunk`).
    public var kvIndices: [Int32] { mask.kvRows().indices }
    /// pool, map, cut, sta, stats, block_mask (map to stats summed over heads when
    /// computed head by head).
    ///
    /// `block_mask` is the time to compute the FlexAttention rows, `kv_num_blocks` and
    /// every row of `kv_indices`, on all cores, in chunks of about 8 MB that are computed
    /// and dropped (summed over the chunks, no allocation of the whole array and no file
    /// I/O); computed whether or not the rows are written, so it compares with PyTorch's
    /// baseline, which builds `kv_indices` (Benchmarks/Scripts/torch_baseline.py).
    public let times: StageTimes

    /// How far a computation is: `stage` (`pool`, `map`, `block_mask`), `done` of `total`
    /// heads (1 of 1 for whole-input stages).
    public typealias Progress = @Sendable (_ stage: String, _ done: Int, _ total: Int) -> Void

    /// Runs the whole engine on `input`: pool, map, sort, cut, STA, statistics and BlockMask rows.
    ///
    /// With `keepMap` the maps of all heads are built at once and kept (`map`); without,
    /// each head's map is built, cut and dropped in turn, so only one head's map
    /// (`8 * N^2` bytes) is held at a time; the mask is the same.
    /// - Throws: `NablaError.badGrid` when `block` does not divide the input's grid.
    public init(input: QKInput, block: BlockShape, settings: MaskSettings, keepMap: Bool = true,
                progress: Progress? = nil) throws {
        var held: QKInput? = input
        try self.init(holding: &held, block: block, settings: settings, keepMap: keepMap, progress: progress)
    }

    /// `init(input:block:settings:keepMap: false)` that takes the input out of `input` (sets
    /// it to `nil`) as soon as it is pooled, so that its tensors are freed for the maps and
    /// the mask when the caller holds no other copy: the peak memory of `nabla mask` is then
    /// the larger of the input and (one head's map and cut + the mask), not their sum.
    /// - Throws: `NablaError.badGrid` when `block` does not divide the input's grid.
    public init(releasing input: inout QKInput?, block: BlockShape, settings: MaskSettings,
                progress: Progress? = nil) throws {
        try self.init(holding: &input, block: block, settings: settings, keepMap: false, progress: progress)
    }

    private init(holding held: inout QKInput?, block: BlockShape, settings: MaskSettings, keepMap: Bool,
                 progress: Progress?) throws {
        // No local copy of the input is bound here (it would keep the tensors alive to the end).
        precondition(held != nil, "MaskReport needs an input")
        let blocks = try held!.blockGrid(block)
        let inputHeads = held!.heads
        self.sequence = held!.text.map { JointSequence(video: blocks, text: $0.tokens) }
        self.inputName = held!.name
        self.grid = held!.grid
        self.order = held!.order
        self.headDim = held!.headDim
        self.headIndices = held!.headIndices
        let mask: BlockMask
        var times = StageTimes()
        if keepMap {
            let input = held!
            progress?("map", 0, input.heads)
            guard let map = try PooledMap.compute(input, block: block) else {
                preconditionFailure("an uncancellable computation was cancelled")
            }
            mask = map.cut(settings)
            self.map = map
            times = map.times + mask.times
        } else {
            progress?("pool", 0, 1)
            let pooled = times.measure("pool") { PooledBlocks(input: held!, blocks: blocks) }
            // The pooled vectors are all the maps need: the tensors go now (with the
            // caller's copy, when it handed it over), before the maps and the mask are made.
            held = nil
            let cut = MaskReport.cutHeadByHead(pooled, settings: settings, progress: progress)
            times.stages += cut.times.stages
            mask = cut.mask
            self.map = nil
        }
        progress?("block_mask", 0, 1)
        let rows = MaskReport.flexRows(of: mask)
        self.blocks = blocks
        self.heads = inputHeads
        self.mask = mask
        self.kvNumBlocks = rows.kvNumBlocks
        self.times = times + rows.times
    }

    /// `kv_num_blocks` of `mask` and the `block_mask` stage: the time to count the rows
    /// and to walk every row's `kv_indices` once (what `write(to:)` streams).
    /// - Complexity: O(heads * N^2).
    static func flexRows(of mask: BlockMask) -> (kvNumBlocks: [Int32], times: StageTimes) {
        let began = ContinuousClock.now
        let numBlocks = mask.kvNumBlocks()
        let countMs = milliseconds(since: began)
        let rowsMs = mask.forEachKVIndicesChunk { _, _ in }
        return (numBlocks, StageTimes([("block_mask", countMs + rowsMs)]))
    }

    /// The report of `mask`, already made for every head of `input` on `blocks` (with the
    /// pooled `map` it came from, if any): the shared end of the reports of a method's
    /// mask and of the app's `:save`. `times` are the stages that made it; `block_mask`
    /// is added.
    init(input: QKInput, blocks: BlockGrid, map: PooledMap?, mask: BlockMask, times: StageTimes, method: MethodSpec? = nil) {
        let rows = MaskReport.flexRows(of: mask)
        self.inputName = input.name
        self.grid = input.grid
        self.order = input.order
        self.headDim = input.headDim
        self.headIndices = input.headIndices
        self.map = map
        self.blocks = blocks
        self.heads = input.heads
        self.mask = mask
        self.method = method
        self.sequence = input.text.map { JointSequence(video: blocks, text: $0.tokens) }
        self.kvNumBlocks = rows.kvNumBlocks
        self.times = times + rows.times
    }

    /// The summary as one JSON object: `density`, `heads` (objects with `density`,
    /// `mass_kept`, `kept_blocks`), `timing_ms` (`total` and one entry per stage), and the
    /// settings and shapes.
    public func json(outputs: [String] = []) -> JSON {
        let s = mask.statistics
        let perHead: [JSON] = (0..<heads).map { h in
            .object([("head", .int(headIndices[h])), ("density", .number(s.density[h])),
                     ("mass_kept", .number(s.massKept[h])), ("kept_blocks", .int(s.keptBlocks[h]))])
        }
        var timing: [(String, JSON)] = [("total", .number(round3(times.total)))]
        timing += times.stages.map { ($0.name, .number(round3($0.ms))) }
        var fields: [(String, JSON)] = [
            ("input", .string(inputName)),
            ("grid", JSON.triple(grid.t, grid.h, grid.w)),
            ("order", .string(order.description)),
            ("block", JSON.triple(blocks.block.bt, blocks.block.bh, blocks.block.bw)),
            ("block_grid", .array([.int(blocks.tb), .int(blocks.hb), .int(blocks.wb)])),
            ("n", .int(blocks.count)),
            ("edge", blocks.edgeText == nil ? .null : .string(blocks.edge.rawValue)),
            ("edge_means", blocks.edgeText.map { .string($0) } ?? .null),
            ("num_heads", .int(heads)),
            ("head_dim", .int(headDim)),
            ("threshold", method == nil ? .number(mask.settings.threshold) : .null),
            ("sta", method == nil ? mask.settings.sta.map { JSON.triple($0.wt, $0.wh, $0.ww) } ?? .null : .null),
            ("density", .number(s.overallDensity)),
            ("sparsity", .number(1 - s.overallDensity)),
            ("ambiguous_rows", .int(s.ambiguousRows)),
            ("heads", .array(perHead)),
            ("timing_ms", .object(timing)),
        ]
        if let method {
            // After the shapes: the method and its parameters (absent for NABLA's own cut).
            fields.insert(contentsOf: [("method", .string(method.name)),
                                       ("parameters", .object(method.values.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))],
                          at: 8)
        }
        if let sequence { fields.append(("text", textJSON(sequence))) }
        if !outputs.isEmpty {
            fields.append(("outputs", .array(outputs.map { .string($0) })))
            fields.append(("flex_attention", flexAttentionNotes()))
        }
        return .object(fields)
    }

    /// How to use the exported rows with PyTorch FlexAttention (torch.nn.attention.flex_attention,
    /// `BlockMask.from_kv_blocks`): the `BLOCK_SIZE` to pass, the token order the rows assume,
    /// and a snippet that loads them.
    func flexAttentionNotes() -> JSON {
        let tokens = blocks.block.tokens
        let load = "BlockMask.from_kv_blocks(torch.from_numpy(np.load('kv_num_blocks.npy'))[None], "
            + "torch.from_numpy(np.load('kv_indices.npy'))[None], BLOCK_SIZE=\(tokens))"
        return .object([
            ("BLOCK_SIZE", .int(tokens)),
            ("block_size_means", .string("tokens per block: \(blocks.block.bt) x \(blocks.block.bh) x \(blocks.block.bw) = \(tokens), for queries and keys")),
            ("token_order", .string("block")),
            ("token_order_means", .string("row a and the indices in it number blocks raster over the block grid \(blocks.tb)x\(blocks.hb)x\(blocks.wb); "
                + "FlexAttention takes block b to be tokens b*BLOCK_SIZE ..< (b+1)*BLOCK_SIZE, so Q, K and V must be permuted to block order "
                + "(each block's \(tokens) tokens contiguous, blocks in raster order) before the call and the output permuted back")),
            ("load", .string(load)),
        ] + paddingNotes() + [
            ("note", .string("eager flex_attention without a mask_mod ignores block sparsity (PyTorch 2.13): compile it "
                + "(torch.compile(flex_attention)) for the sparsity to save work")),
        ])
    }

    /// A readable multi-line summary.
    public func text() -> String {
        let s = mask.statistics
        var lines: [String] = []
        lines.append("input      \(Shown.path(inputName))")
        lines.append("grid       \(grid) (\(grid.tokens) tokens, \(order)), head dim \(headDim), \(heads) heads")
        lines.append("block      \(blocks.block) -> block grid \(blocks), N = \(blocks.count)")
        if let edge = blocks.edgeText { lines.append("edge       \(edge)") }
        if let sequence { lines.append("text       \(sequence.textLine)") }
        lines.append(method.map { "method     \($0)" } ?? "settings   thr \(fixed(mask.settings.threshold, 2)), STA \(mask.settings.sta.map(\.description) ?? "off")")
        lines.append("")
        lines.append("head   density   mass kept   kept blocks")
        for h in 0..<heads {
            lines.append(pad(String(headIndices[h]), 4) + "  " + pad(percent(s.density[h]), 8) + "   " +
                         pad(fixed(s.massKept[h], 4), 9) + "   " + pad(String(s.keptBlocks[h]), 11))
        }
        lines.append(" all  " + pad(percent(s.overallDensity), 8))
        if s.ambiguousRows > 0 {
            lines.append("")
            lines.append("note: \(s.ambiguousRows) row(s) cut within \(BlockMask.ambiguousMargin) of a running sum; another correct implementation may differ there")
        }
        lines.append("")
        let stages = times.stages.map { "\($0.name) \(fixed($0.ms, 2))" }.joined(separator: ", ")
        lines.append("time       \(fixed(times.total, 2)) ms (\(stages))")
        return lines.joined(separator: "\n")
    }

    /// Writes `mask.npy` (uint8 `[heads, N, N]`), `kv_num_blocks.npy` (int32 `[heads, N]`),
    /// `kv_indices.npy` (int32 `[heads, N, N]`), `frame_coverage.npy` (float32
    /// `[heads, Tb, Tb]`) and `summary.json` into `directory`, creating it if needed.
    /// Returns the file names written.
    ///
    /// The five files replace the previous set as a whole (`OutputSet`): a reader sees
    /// the old set or the new one, a run killed while writing leaves the old set, and
    /// other files in the directory are kept.
    ///
    /// Memory: `mask.npy` is written from the mask itself and `kv_indices.npy` in row
    /// chunks of about 8 MB computed as they are written, so beyond the report only
    /// O(8 MB) is held, whatever N.
    /// - Throws: `NablaError.writeFailed`, one line naming the path and the reason.
    /// - Complexity: O(heads * N^2) to compute the rows again, plus the I/O.
    @discardableResult
    public func write(to directory: String) throws -> [String] {
        var names: [String] = []
        try OutputSet.replace(directory: directory) { stage in
            names = try write(into: stage, shownAs: directory)
        }
        return names
    }

    /// Writes the five files of `write(to:)` into `stage` (a set, or a pair's folder of a
    /// tree), naming them `directory/NAME` in messages; returns their names.
    /// - Throws: `NablaError.writeFailed`, one line naming the path and the reason.
    func write(into stage: OutputSet.Stage, shownAs directory: String) throws -> [String] {
        if let sequence { return try writeJoint(sequence, into: stage, shownAs: directory) }
        let h = heads, n = blocks.count, tb = blocks.tb
        let names = ["mask.npy", "kv_num_blocks.npy", "kv_indices.npy", "frame_coverage.npy", "summary.json"]
        let mask = self.mask
        func shown(_ name: String) -> String { OutputPath.join(directory, name) }
        try stage.write(named: names[0]) { file in
            try NPY.stream(descr: "|u1", itemSize: 1, shape: [h, n, n], name: shown(names[0]), into: file) {
                try mask.kept.withUnsafeBytes { try file.write($0) }
            }
        }
        try stage.write(NPY.encode(kvNumBlocks, shape: [h, n], name: shown(names[1])), named: names[1])
        try stage.write(named: names[2]) { file in
            try NPY.stream(descr: "<i4", itemSize: 4, shape: [h, n, n], name: shown(names[2]), into: file) {
                try mask.forEachKVIndicesChunk { _, rows in
                    if ByteOrder.native == .little {
                        try file.write(UnsafeRawBufferPointer(rows))
                    } else {
                        try file.write(rows.flatMap { v in withUnsafeBytes(of: v.littleEndian, Array.init) })
                    }
                }
            }
        }
        try stage.write(NPY.encode(mask.statistics.frameCoverage.map { Float($0) }, shape: [h, tb, tb], name: shown(names[3])),
                        named: names[3])
        try stage.write(Array((json(outputs: names).rendered() + "\n").utf8), named: names[4])
        return names
    }
}

