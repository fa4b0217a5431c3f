// The jobs that run the engine and write files, for the effects the reducer returns.
// The reducer never calls into this folder: the terminal runtime (NablaTerminal's
// JobQueue) and the headless app (`HeadlessApp`, here) run them and report back with
// `InputEvent.jobFinished`.
import Foundation
import NablaCore
import NablaFigures

/// Runs the job of an effect through the engine. Called on a background thread by the
/// terminal runtime and synchronously by headless rendering; `isCancelled` is polled
/// between stages and heads (and by the loader while it reads), and `progress` is told
/// each stage as it starts.
public enum Jobs {
    ///
    /// With `pooledLoader`, a load first tries the one-pass pooling and brings only the
    /// map (`JobOutcome.loadedMap`); the token-level data then loads on its own
    /// (`Effect.loadTokens`). Without it, or for an input the pass cannot read, `loader`
    /// reads the whole input as before.
    public static func perform(_ effect: Effect, loader: InputLoader, pooledLoader: PooledLoader? = nil,
                               isCancelled: @escaping @Sendable () -> Bool = { false },
                               progress: @escaping @Sendable (JobProgress) -> Void = { _ in }) -> JobOutcome {
        do {
            if let outcome = try runLazy(effect, loader: loader, pooledLoader: pooledLoader, isCancelled: isCancelled,
                                         progress: progress) {
                return outcome
            }
            return try run(effect, loader: loader, isCancelled: isCancelled, progress: progress)
        } catch {
            // A loader stops by throwing when cancelled: that is no failure to show.
            if isCancelled() { return .cancelled }
            return .failed(error.shownText)
        }
    }

    static func run(_ effect: Effect, loader: InputLoader, isCancelled: @escaping @Sendable () -> Bool,
                    progress: @escaping @Sendable (JobProgress) -> Void) throws -> JobOutcome {
        /// The first cut of a new map, with its progress.
        func cutFirst(_ first: FirstCut?, of map: PooledMap) -> BlockMask? {
            guard let first, !isCancelled() else { return nil }
            progress(.cut(head: first.head(in: map), heads: map.heads))
            return first.cut(map)
        }
        /// Map stages as `JobProgress`.
        func mapProgress(_ stage: String, _ done: Int, _ total: Int) {
            progress(stage == "pool" ? .pool : .map(head: done, heads: total))
        }
        switch effect {
        case .quit:
            return .cancelled
        case .writeFigure(let figure, let path, _):
            guard let format = FigureFormat(path: path) else {
                throw NablaError(.badArgument, "\(path): give a \(FigureFormat.extensionList) file")
            }
            try AtomicFile.write(try FigureFile.bytes(figure, format: format, scale: 2, name: path), to: path)
            return .wroteFigure(path: path)
        case .listDirectory(let path, let line, _):
            return .listed(line: line, PromptCompletion.listDirectory(path).map { DirectoryEntry(name: $0.name, isDirectory: $0.directory) })
        case .saveMask(let input, let map, let mask, let settings, let directory, _):
            let report = MaskReport(input: input, map: map, mask: mask ?? map.cut(settings))
            return .saved(try report.write(to: directory), directory: directory)
        case .computeAttention(let job, _):
            return job.perform(isCancelled: isCancelled)
        case .computeTeaching(let job, _):
            return .teaching(job.perform(isCancelled: isCancelled))
        case .computeMap(let input, let block, _, let firstCut):
            guard let map = try PooledMap.compute(input, block: block, progress: mapProgress,
                                                  isCancelled: isCancelled) else { return .cancelled }
            return .computed(map, cut: cutFirst(firstCut, of: map))
        case .cutHeads(let map, let settings, let done, _):
            var parts: [BlockMask] = []
            for h in 0..<map.heads {
                if isCancelled() { return .cancelled }
                if let part = done[h] {
                    parts.append(part)
                } else {
                    progress(.cut(head: h, heads: map.heads))
                    if isCancelled() { return .cancelled }
                    parts.append(map.cut(settings, heads: h..<(h + 1)))
                }
            }
            return .recut(BlockMask(joining: parts))
        case .prefetchCuts(let map, let head, let settings, _):
            var cuts: [MaskSettings: BlockMask] = [:]
            for s in settings {
                if isCancelled() { break }
                cuts[s] = map.cut(s, heads: head..<(head + 1))
            }
            return .prefetched(map.id, head: head, cuts)
        case .surveyModel(let pairs, let block, let settings, _):
            guard let density = try survey(pairs, block: block, settings: settings, loader: loader,
                                           isCancelled: isCancelled, progress: progress) else { return .cancelled }
            return .surveyed(density, block: block, settings: settings)
        case .surveyRecall(let pairs, let pair, let block, let settings, let how, _):
            return try surveyRecall(pairs, pair: pair, block: block, settings: settings, how: how, loader: loader,
                                    isCancelled: isCancelled, progress: progress)
        case .poolMap, .loadTokens, .saveMapMask:
            throw NablaError(.badArgument, "the token-level data is not loaded")  // `runLazy` runs these
        case .loadInput(let request, let block, _, let firstCut):
            let pairs = DumpPairs.detect(request)
            let observer = LoadObserver(progress: { progress(.reading(tensor: $0, bytesDone: $1, bytesTotal: $2)) },
                                        isCancelled: isCancelled)
            let input = try loader(pairs.map { $0.request(for: $0.index) } ?? request, block, observer)
            if isCancelled() { return .cancelled }
            // A grid the block does not divide: partial edge blocks (or crop), said on screen.
            let note = try input.blockGrid(block).edgeText
            guard let map = try PooledMap.compute(input, block: block, progress: mapProgress,
                                                  isCancelled: isCancelled) else { return .cancelled }
            return .loaded(input, map, note: note, pairs: pairs, cut: cutFirst(firstCut, of: map))
        }
    }
}
