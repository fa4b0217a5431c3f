/// A value estimated from a sample, with its two-sided 95% confidence interval.
public struct SampledValue: Sendable, Equatable {
    public let value: Double
    /// `nil` until the sample can estimate a variance (two blocks).
    public let ci95: ClosedRange<Double>?

    public init(value: Double, ci95: ClosedRange<Double>?) {
        self.value = value
        self.ci95 = ci95
    }

    /// Half the interval's width (`.infinity` without one): the `+-` of `0.83 +- 0.01`.
    public var halfWidth: Double { ci95.map { ($0.upperBound - $0.lowerBound) / 2 } ?? .infinity }
}

/// Estimates of a population mean and a population ratio from a stratified simple random
/// sample without replacement, with finite-population corrections, so the interval has
/// width 0 when every unit is sampled (Cochran, *Sampling Techniques*, 3rd ed., 1977:
/// §5.3 eq. 5.6 for the stratified mean's variance, §6.11 eq. 6.46 for the combined ratio
/// estimate's; Satterthwaite's effective degrees of freedom, §5.4 eq. 5.16).
///
/// Strata with fewer than two sampled units (early in an incremental sample) are merged
/// with their neighbours in order until each holds two: collapsed strata (§5A.12), whose
/// variance estimate is conservative when the merged strata's means differ.
///
/// Layout: `population[h]` units in stratum `h`; `samples[h]` the sampled units' values
/// (`y`; for the ratio, pairs `(y, x)`), in any order.
enum StratifiedEstimate {
    /// The stratified mean `sum_h W_h ybar_h`, `W_h = N_h / N`, and its 95% interval
    /// `mean +- t * sqrt(sum_h W_h^2 (1 - f_h) s_h^2 / n_h)`, `f_h = n_h / N_h`.
    /// - Complexity: O(samples).
    static func mean(population: [Int], samples: [[Double]]) -> SampledValue {
        let groups = collapse(population: population, samples: samples.map { $0.map { ($0, 0.0) } })
        let total = Double(groups.reduce(0) { $0 + $1.population })
        var estimate = 0.0
        for g in groups where !g.values.isEmpty {
            estimate += Double(g.population) / total * g.values.reduce(0) { $0 + $1.y } / Double(g.values.count)
        }
        let terms = groups.map { g -> (Double, Int) in
            let w = Double(g.population) / total
            return (w * w * variance(ofMean: g.values.map(\.y), population: g.population), g.values.count)
        }
        return SampledValue(value: estimate, ci95: interval(estimate, terms, usable: groups.allSatisfy { $0.values.count >= 2 }))
    }

    /// The combined ratio estimate `R = Y / X` of two population totals, `sum_h N_h ybar_h
    /// / sum_h N_h xbar_h`, with the linearised variance `X^-2 sum_h N_h^2 (1 - f_h)
    /// s_dh^2 / n_h` of the residuals `d = y - R x`. `nil` when the sampled `x` sum to 0.
    /// - Complexity: O(samples).
    static func ratio(population: [Int], samples: [[(y: Double, x: Double)]]) -> SampledValue? {
        let groups = collapse(population: population, samples: samples)
        var yTotal = 0.0, xTotal = 0.0
        for g in groups where !g.values.isEmpty {
            let scale = Double(g.population) / Double(g.values.count)
            yTotal += scale * g.values.reduce(0) { $0 + $1.y }
            xTotal += scale * g.values.reduce(0) { $0 + $1.x }
        }
        guard xTotal > 0 else { return nil }
        let r = yTotal / xTotal
        let terms = groups.map { g -> (Double, Int) in
            let p = Double(g.population)
            return (p * p * variance(ofMean: g.values.map { $0.y - r * $0.x }, population: g.population) / (xTotal * xTotal),
                    g.values.count)
        }
        return SampledValue(value: r, ci95: interval(r, terms, usable: groups.allSatisfy { $0.values.count >= 2 }))
    }

    /// The mean over query blocks of pairs `(count * value, count)`: the stratified mean of
    /// the values when blocks are whole (`weighted` false), the combined ratio (a mean over
    /// real tokens) with partial edge blocks (`AttentionRecall` weighs blocks so).
    static func blockMean(population: [Int], samples: [[(y: Double, x: Double)]], weighted: Bool) -> SampledValue {
        if !weighted { return mean(population: population, samples: samples.map { $0.map(\.y) }) }
        return ratio(population: population, samples: samples) ?? SampledValue(value: 0, ci95: nil)
    }

    /// `(1 - n/N) s^2 / n`, `s^2` the sample variance (denominator `n - 1`); 0 when the
    /// whole stratum is sampled.
    private static func variance(ofMean values: [Double], population: Int) -> Double {
        let n = values.count
        guard n >= 2, n < population else { return 0 }
        let m = values.reduce(0, +) / Double(n)
        let s2 = values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)
        return (1 - Double(n) / Double(population)) * s2 / Double(n)
    }

    /// `estimate +- t_{0.975, df} * sqrt(sum v_h)`, `df` by Satterthwaite from the terms
    /// `(v_h, n_h)`; `nil` when a group has fewer than two units (the sample has fewer than two).
    private static func interval(_ estimate: Double, _ terms: [(Double, Int)], usable: Bool) -> ClosedRange<Double>? {
        guard usable else { return nil }
        let v = terms.reduce(0) { $0 + $1.0 }
        guard v > 0 else { return estimate...estimate }
        let denominator = terms.reduce(0.0) { $0 + ($1.1 > 1 ? $1.0 * $1.0 / Double($1.1 - 1) : 0) }
        let df = denominator > 0 ? v * v / denominator : .infinity
        let half = studentT975(df) * v.squareRoot()
        return (estimate - half)...(estimate + half)
    }

    /// Strata merged in order until each group holds at least two sampled units (the last
    /// short group joins the one before); unchanged when every stratum has two.
    static func collapse(population: [Int], samples: [[(y: Double, x: Double)]]) -> [(population: Int, values: [(y: Double, x: Double)])] {
        precondition(population.count == samples.count, "one sample list per stratum")
        var groups: [(population: Int, values: [(y: Double, x: Double)])] = []
        var current: (population: Int, values: [(y: Double, x: Double)]) = (0, [])
        for (p, s) in zip(population, samples) {
            current.population += p
            current.values += s
            if current.values.count >= 2 {
                groups.append(current)
                current = (0, [])
            }
        }
        if current.population > 0 {
            if groups.isEmpty {
                groups.append(current)
            } else {
                groups[groups.count - 1].population += current.population
                groups[groups.count - 1].values += current.values
            }
        }
        return groups
    }

    /// The 0.975 quantile of Student's t with `df` degrees of freedom, `df` rounded down
    /// (a wider interval): tabulated to 30 (Fisher & Yates' table), above by the
    /// Cornish-Fisher expansion in `1/df` (Abramowitz & Stegun 26.7.5), within 1e-4 there.
    static func studentT975(_ df: Double) -> Double {
        let table: [Double] = [12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
                               2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                               2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423]
        guard df.isFinite else { return 1.959963984540054 }
        let v = max(1, df.rounded(.down))
        if v <= 30 { return table[Int(v) - 1] }
        let x = 1.959963984540054, x2 = x * x
        let g1 = (x2 + 1) * x / 4
        let g2 = ((5 * x2 + 16) * x2 + 3) * x / 96
        let g3 = (((3 * x2 + 19) * x2 + 17) * x2 - 15) * x / 384
        let g4 = ((((79 * x2 + 776) * x2 + 1482) * x2 - 1920) * x2 - 945) * x / 92160
        return x + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v)
    }
}
