extension MaskSettings {
    /// The settings `hundredths` threshold steps away: the threshold rounded to whole
    /// hundredths, moved by `hundredths`, clamped to `[0, 1]`; the STA window unchanged.
    ///
    /// Every threshold key and every "one key away" prefetch computes its next settings
    /// here, so that a prefetched cut is found by equality of the `Double`s it produces.
    public func stepped(by hundredths: Int) -> MaskSettings {
        let t = ((threshold * 100).rounded() + Double(hundredths)) / 100
        return MaskSettings(threshold: min(max(t, 0), 1), sta: sta)
    }
}
