import NablaCore

/// One head's mask as the app shows it: head `index` of `mask`, which is either the head's
/// own cut (index 0, done first after a threshold or STA change) or the mask of every head.
public struct HeadMask: Sendable {
    public let mask: BlockMask
    /// The head's index in `mask`.
    public let index: Int
    /// Whether it was cut at the app's current settings (`false`: its re-cut is pending).
    public let isCurrent: Bool

    /// Kept blocks / `N^2`.
    public var density: Double { mask.statistics.density[index] }

    public func isKept(query a: Int, key b: Int) -> Bool { mask.isKept(head: index, query: a, key: b) }

    /// The share of pairs kept between query frame slab `a` and key frame slab `b`.
    public func coverage(querySlab a: Int, keySlab b: Int) -> Double {
        mask.statistics.coverage(head: index, querySlab: a, keySlab: b)
    }
}
