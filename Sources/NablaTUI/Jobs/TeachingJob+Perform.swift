import NablaCore

extension TeachingJob {
    /// Runs the work through the engine's kernels, polling `isCancelled` before every
    /// query block of every kernel run.
    func perform(isCancelled: () -> Bool) -> Outcome {
        do {
            switch work {
            case .compare(let a, let b, let known):
                let q = try MaskQuality.measure([a, b], input: input, blocks: blocks, heads: [head], error: input.v != nil,
                                                mass: known.mass, dense: known.dense, isCancelled: isCancelled)
                return q.map { .compare($0, head: head) } ?? .cancelled
            case .sweep(let sta, let thresholds, let measureAt, let budget, let known):
                // The head as an input of its own: the sweep's kernels then run on it alone.
                let one = try input.selecting(HeadSelection([head]))
                guard let map = try PooledMap.compute(one, block: blocks.block, isCancelled: isCancelled) else { return .cancelled }
                let values = one.v != nil
                let sweep = try ThresholdSweep(map: map, sta: sta, thresholds: thresholds, input: one, recall: true,
                                               error: values, errorBudgetMs: budget, measureAt: values ? measureAt : [],
                                               // The head's mass is slot 0 of the one-head input.
                                               trueMass: known.mass.map { TrueBlockMass(heads: [0], n: $0.n, mass: $0.mass) },
                                               dense: known.dense.flatMap { d in known.denseMs.map { (d, $0) } },
                                               isCancelled: isCancelled)
                return .sweep(sweep, head: head)
            case .sweepAllHeads(let sta, let thresholds):
                guard let map = try PooledMap.compute(input, block: blocks.block, isCancelled: isCancelled) else { return .cancelled }
                let sweep = try ThresholdSweep(map: map, sta: sta, thresholds: thresholds, input: input, recall: true,
                                               isCancelled: isCancelled)
                guard let recall = sweep.recall else { return .cancelled }
                return .sweepAllHeads(recall: ThresholdSweep.averaged(recall))
            case .sweepEstimate(let map, let sta, let thresholds, let allHeads, let key):
                return try performSweepEstimate(map: map, sta: sta, thresholds: thresholds, allHeads: allHeads, key: key,
                                                isCancelled: isCancelled)
            case .sweepCuts(let map, let sta, let thresholds):
                let sweep = try ThresholdSweep(map: map, sta: sta, thresholds: thresholds)
                return isCancelled() ? .cancelled : .sweepCuts(sweep, map: map.id, sta: sta)
            case .methods(let settings, let allHeads, let key):
                // The methods poll through their context, which lives only for this call.
                return try withoutActuallyEscaping(isCancelled) { poll in
                    let flag = CancelPoll(poll)
                    return try performMethods(settings: settings, allHeads: allHeads, key: key, isCancelled: { flag.poll() })
                }
            case .methodsMark(let settings, let parts, let key):
                return try withoutActuallyEscaping(isCancelled) { poll in
                    let flag = CancelPoll(poll)
                    return try performMark(settings: settings, parts: parts, key: key, isCancelled: { flag.poll() })
                }
            case .compareMasks(let a, let spec, let map, let key):
                do {
                    var maps = [map.blocks.block: map]
                    let b = try SpecifiedMask.make(spec.withDefaultBlock(map.blocks.block), input: input, maps: &maps,
                                                   otherDensity: a.density)
                    if isCancelled() { return .cancelled }
                    return .compareMasks(MaskComparison(a, b), problem: nil, key: key)
                } catch let error as NablaError {
                    return .compareMasks(nil, problem: error.message, key: key)
                }
            }
        } catch is CancellationError {
            return .cancelled
        } catch {
            return .failed(error.shownText)
        }
    }
}
