import Foundation
import NablaCore

/// The queues jobs run on, each with its own generations: a job is stale when a newer
/// job of its lane exists, and never because of another lane's.
public enum JobLane: Sendable, Hashable {
    /// Loads, block shapes, the model survey and saves (`AppState.generation`).
    case map
    /// The other heads' re-cut after a threshold or STA change (`AppState.cutGeneration`).
    case cut
    /// The timing panel's attention stages (`AppState.attentionGeneration`).
    case attention
    /// A teaching view's kernel work (`AppState.teachingGeneration`).
    case teaching
    /// File-system work a person asked for at the prompt: figures written by `:plot`,
    /// directories listed for Tab completion.
    case files
}

/// Work the app asks its host to do; the host runs jobs off the UI thread (or, headless,
/// at once) and reports back with `InputEvent.jobFinished` carrying the generation.
public enum Effect: Sendable {
    /// Pool `input` into `block` blocks and build the map, then cut `firstCut`'s head.
    case computeMap(input: QKInput, block: BlockShape, generation: Int, firstCut: FirstCut? = nil)
    /// Load the input `request` names with the loader, then build its map with `block` (or the first
    /// standard shape that divides its grid), then cut `firstCut`'s head.
    case loadInput(request: InputSpec, block: BlockShape, generation: Int, firstCut: FirstCut? = nil)
    /// Pool the input `request` names at `block` in one pass over its files (a block change
    /// while only the map is loaded, `LazyInput`), then cut `firstCut`'s head.
    case poolMap(request: InputSpec, block: BlockShape, generation: Int, firstCut: FirstCut? = nil)
    /// Read the token-level Q, K and V of `request` behind the map on screen (`LazyInput`).
    case loadTokens(request: InputSpec, block: BlockShape, generation: Int)
    /// One stage of the timing panel's attention for one head; attention jobs have their
    /// own generations (`AppState.attentionGeneration`), so they never cancel map jobs.
    case computeAttention(AttentionJob, generation: Int)
    /// Kernel figures of a teaching view (`TeachingJob`); teaching jobs have their own
    /// generations (`AppState.teachingGeneration`) and queue.
    case computeTeaching(TeachingJob, generation: Int)
    /// Compute the density of every head of every pair of a whole-model dump.
    case surveyModel(pairs: DumpPairs, block: BlockShape, settings: MaskSettings, generation: Int)
    /// Compute every head's recall of pair `pair` at `block` and `settings`, `how` the
    /// model view asks (`ModelSurvey.estimate` or exact; `ModelReport.recall`).
    case surveyRecall(pairs: DumpPairs, pair: Int, block: BlockShape, settings: MaskSettings, how: ModelReport.Recall, generation: Int)
    /// Write the map on screen and its mask at `settings` to `directory`: the files
    /// `nabla mask --out` writes (`MaskReport.write(to:)`). `mask` is the mask of every
    /// head when the screen holds it; otherwise (a re-cut pending) the job cuts `map`.
    case saveMask(input: QKInput, map: PooledMap, mask: BlockMask?, settings: MaskSettings, directory: String, generation: Int)
    /// `saveMask` while only the map is loaded (`LazyInput`): the same files.
    case saveMapMask(LazyInput, map: PooledMap, mask: BlockMask?, settings: MaskSettings, directory: String, generation: Int)
    /// Cut every head of `map` at `settings` except those in `done` (already cut, one head
    /// each, keyed by head) and join them into the mask of every head.
    case cutHeads(map: PooledMap, settings: MaskSettings, done: [Int: BlockMask], generation: Int)
    /// Cut head `head` of `map` at each of `settings` ahead of time (the settings one key
    /// away), so that the key's redraw finds its cut done.
    case prefetchCuts(map: PooledMap, head: Int, settings: [MaskSettings], generation: Int)
    /// Write `figure` to `path`, SVG, PNG or PDF by its extension, as `nabla plot` does
    /// (`:plot`; the file is replaced whole).
    case writeFigure(Figure, path: String, generation: Int)
    /// List directory `path` for Tab completion of `line`, the prompt's text before the
    /// cursor when Tab was pressed.
    case listDirectory(path: String, line: String, generation: Int)
    case quit

    /// The generation of a job effect.
    public var generation: Int? {
        switch self {
        case .computeMap(_, _, let g, _), .loadInput(_, _, let g, _), .poolMap(_, _, let g, _), .loadTokens(_, _, let g),
             .saveMapMask(_, _, _, _, _, let g), .surveyModel(_, _, _, let g), .surveyRecall(_, _, _, _, _, let g), .saveMask(_, _, _, _, _, let g),
             .computeAttention(_, let g), .cutHeads(_, _, _, let g), .prefetchCuts(_, _, _, let g),
             .computeTeaching(_, let g), .writeFigure(_, _, let g), .listDirectory(_, _, let g): g
        case .quit: nil
        }
    }

    /// Whether the effect is a teaching view's kernel work (the teaching lane).
    public var isTeaching: Bool { lane == .teaching }
    /// A teaching job that makes what its view draws from (`TeachingJob.isBasis`).
    public var isTeachingBasis: Bool {
        if case .computeTeaching(let job, _) = self { return job.isBasis }
        return false
    }

    /// The queue and generations of a job effect.
    public var lane: JobLane {
        switch self {
        case .computeAttention: .attention
        case .computeTeaching: .teaching
        case .cutHeads, .prefetchCuts: .cut
        case .writeFigure, .listDirectory: .files
        default: .map
        }
    }

}

/// The head on screen and the settings a map job cuts right after the map (in the
/// background, so that the new map's first frame needs no cut on the UI thread).
public struct FirstCut: Sendable {
    public var head: Int
    public var settings: MaskSettings

    /// The head it cuts in `map`: `head`, or the last one if the map has fewer heads.
    func head(in map: PooledMap) -> Int { min(max(head, 0), map.heads - 1) }

    /// The cut of the head, `[1, N, N]`.
    func cut(_ map: PooledMap) -> BlockMask {
        let h = head(in: map)
        return map.cut(settings, heads: h..<(h + 1))
    }
}

/// What a background job produced.
public enum JobOutcome: Sendable {
    /// A map and the cut its job made of `FirstCut`'s head.
    case computed(PooledMap, cut: BlockMask?)
    /// A new input and its map (and first cut); `note` says why the block shape changed,
    /// if it did; `pairs` when the input is one pair of a whole-model dump.
    case loaded(QKInput, PooledMap, note: String?, pairs: DumpPairs?, cut: BlockMask?)
    /// As `loaded`, the map from the one-pass pooling and the token-level data not read.
    case loadedMap(LazyInput, PooledMap, note: String?, pairs: DumpPairs?, cut: BlockMask?)
    /// The token-level data of the input whose map is on screen (`Effect.loadTokens`).
    case tokens(QKInput)
    /// Per pair, per head: the density at `block` and `settings` (the model view).
    case surveyed([[Double]], block: BlockShape, settings: MaskSettings)
    /// Every head's recall of pair `pair` (the model view), or why it could not be had.
    case surveyedRecall(pair: Int, RecallFigures?, problem: String?, block: BlockShape, settings: MaskSettings)
    /// The files a save wrote, and where.
    case saved([String], directory: String)
    /// The figure `:plot` wrote.
    case wroteFigure(path: String)
    /// The entries of the directory listed for completing `line`.
    case listed(line: String, [DirectoryEntry])
    /// The mask of every head at the settings of a `cutHeads` job.
    case recut(BlockMask)
    /// Cuts of head `head` of the map `map` made ahead of time, by settings (those done
    /// before a cancel).
    case prefetched(PooledMap.ID, head: Int, [MaskSettings: BlockMask])
    case failed(String)
    /// One attention stage of the timing panel.
    case attention(AttentionJob.Stage, AttentionJob.Outcome)
    /// A teaching view's kernel figures.
    case teaching(TeachingJob.Outcome)
    /// The job saw that it had become stale and stopped (on any lane: the event that
    /// carries an outcome names its lane, `InputEvent.jobFinished`).
    case cancelled
}

extension JobOutcome {
    /// Whether it brings a new input (whole or map only).
    var isLoaded: Bool {
        switch self {
        case .loaded, .loadedMap: true
        default: false
        }
    }
}

extension Error {
    /// What the app shows for this error: a `NablaError`'s one-line message, otherwise the
    /// first line of the error's description.
    var shownText: String {
        if let error = self as? NablaError { return error.message }
        return String(describing: self).split(separator: "\n").first.map(String.init) ?? "failed"
    }
}
