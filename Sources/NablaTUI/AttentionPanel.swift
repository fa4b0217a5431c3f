import NablaCore

/// The timing panel's attention figures for one head of one map: sparse and dense
/// attention times, the error of sparse against dense (when V exists), the true block mass
/// with the mask's recall and oracle.
///
/// The true mass and dense attention depend on the input, block shape and head only; a
/// threshold or STA change re-runs block-sparse attention and re-derives recall from the
/// cached mass at once.
public struct AttentionPanel: Sendable {
    /// The map (by identity) and head the figures are for.
    let map: PooledMap.ID
    public let head: Int
    /// The mask settings of `sparse`, `sparseMs` and `recall`.
    public var settings: MaskSettings
    public let hasValues: Bool
    /// `[1, N, N]` true block mass of the head (with joint text tokens, on the joint blocks).
    public var mass: TrueBlockMass?
    /// `mass` on the video's blocks, as the map and the follow view draw it
    /// (`TrueBlockMass.videoBlocks`; `mass` itself without text).
    public var shownMass: TrueBlockMass?
    public var recall: AttentionRecall?
    /// Recall from sampled query blocks, shown until `recall` is there.
    public var estimate: AttentionEstimate?
    public var sparseMs: Double?
    public var denseMs: Double?
    /// `[1, S, D]` outputs, kept for the error.
    var sparse: [Float]?
    var dense: [Float]?
    /// Relative L2 of sparse against dense.
    public var error: Double?
    /// The FP32 peak (FLOP/s) of the kernels dense attention ran with
    /// (`KernelVariant.activePeakFlops`), once dense attention is back.
    public var peakFlops: Double?
    /// Stages asked for and not back yet.
    public var pending: Set<AttentionJob.Stage>
    public var failure: String?

    /// The head's density under the current mask.
    public var density: Double?
}

extension AppState {
    /// Asks for the attention figures the current head, map and mask lack: everything for
    /// a new head or map; sparse attention (and recall, at once) for a new mask. Each
    /// request is a new generation, so results of older ones are dropped and their jobs
    /// stop at the next query block.
    mutating func refreshAttention() -> [Effect] {
        // The mask of every head at the current settings (not while the other heads' re-cut
        // is pending: the panel then shows its previous figures as pending).
        guard let map, let mask = currentMask, let (input, slot) = attentionInput else { return [] }
        let head = currentHead
        let id = map.id
        var stages: [AttentionJob.Stage]
        if var panel = attention, panel.map == id, panel.head == head {
            guard panel.settings != settings else { return [] }
            // Same map and head, new mask: recall now, sparse again; what was still
            // running is asked again under the new generation.
            panel.settings = settings
            panel.recall = panel.mass?.recall(of: mask)
            panel.sparse = nil
            panel.sparseMs = nil
            panel.error = nil
            panel.density = mask.statistics.density[head]
            stages = panel.hasValues ? [.sparse] : []
            if panel.mass == nil { stages.insert(contentsOf: [.estimate, .recall], at: 0) }
            panel.estimate = nil
            if panel.hasValues && panel.dense == nil { stages.append(.dense) }
            panel.pending = Set(stages)
            attention = panel
        } else {
            stages = [.estimate] + (input.v != nil ? [.recall, .sparse, .dense] : [.recall])
            attention = AttentionPanel(map: id, head: head, settings: settings, hasValues: input.v != nil,
                                       pending: Set(stages), density: mask.statistics.density[head])
        }
        attentionGeneration += 1
        guard !stages.isEmpty else {
            attentionJob = nil
            return []
        }
        attentionJob = Job(generation: attentionGeneration, label: "attention")
        return stages.map { stage in
            .computeAttention(AttentionJob(input: input, blocks: map.blocks, head: slot ?? head, mask: mask, stage: stage,
                                           maskHead: slot == nil ? nil : head),
                              generation: attentionGeneration)
        }
    }

    /// Takes in one stage's outcome when it belongs to the newest request.
    mutating func applyAttention(_ stage: AttentionJob.Stage, _ outcome: AttentionJob.Outcome, generation: Int) {
        guard generation == attentionGeneration, var panel = attention else { return }
        panel.pending.remove(stage)
        switch outcome {
        case .done(.mass(let mass), _):
            panel.mass = mass
            panel.shownMass = mass.videoBlocks
            if let mask { panel.recall = mass.recall(of: mask) }
        case .done(.output(let out), let ms):
            if stage == .sparse {
                panel.sparse = out
                panel.sparseMs = ms
            } else {
                panel.dense = out
                panel.denseMs = ms
                panel.peakFlops = KernelVariant.activePeakFlops
            }
            if let s = panel.sparse, let d = panel.dense {
                panel.error = relativeL2Error(s, reference: d, heads: 1).overall
            }
        case .estimated(let estimate):
            if panel.recall == nil { panel.estimate = estimate }
        case .cancelled:
            break
        case .failed(let text):
            panel.failure = text
            message = .error(text)
        }
        attention = panel
        if panel.pending.isEmpty { attentionJob = nil }
    }
}
