/// Durations as the milliseconds every timing in nabla is reported in.
extension Duration {
    /// The duration in milliseconds (fractional), e.g. `1.5` for 1500 µs.
    public var milliseconds: Double {
        Double(components.seconds) * 1e3 + Double(components.attoseconds) * 1e-15
    }
}

/// Milliseconds from `start` to now, on the continuous clock.
func milliseconds(since start: ContinuousClock.Instant) -> Double {
    (ContinuousClock.now - start).milliseconds
}
