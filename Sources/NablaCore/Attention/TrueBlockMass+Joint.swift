extension TrueBlockMass {
    /// The map on the video's blocks, for drawing beside the pooled map: on a joint map
    /// (`joint`), the video-to-video part `[slots, Nvb, Nvb]` (each row then sums to the
    /// video query block's true mass on video keys, short of 1 by its mass on text keys),
    /// weighted by the video blocks' shares of the video tokens; `self` otherwise.
    /// Recall is not taken from it (the mass on text keys counts as kept): use the joint map.
    /// - Complexity: O(slots * Nvb^2 log Nvb) (the oracle's sorted rows).
    public var videoBlocks: TrueBlockMass {
        guard let joint else { return self }
        let nv = joint.video.count, nj = n, first = joint.firstVideoBlock
        var sub = [Double](repeating: 0, count: heads.count * nv * nv)
        for slot in heads.indices {
            for a in 0..<nv {
                for b in 0..<nv { sub[(slot * nv + a) * nv + b] = mass[(slot * nj + first + a) * nj + first + b] }
            }
        }
        let video = joint.video
        let weights: [Double]? = video.isUniform ? nil
            : video.blockTokenCounts().map { Double($0) / Double(video.keptTokens) }
        return TrueBlockMass(heads: heads, n: nv, mass: sub, queryWeights: weights)
    }
}
