import NablaCore

/// What the head on screen shows, as one value: the map on screen, the mask of its heads
/// (at older settings while a re-cut is pending), the other heads' re-cut, the cuts of the
/// current head made ahead of time, and the stage times of the last map and cut.
///
/// "Is this mask current?" is answered here only (`isCurrent(_:settings:)`); maps are
/// told apart by `PooledMap.id`.
public struct CurrentCut: Sendable {
    /// The re-cut after a threshold or STA change: the head on screen is cut at once,
    /// the other heads in the background (`Effect.cutHeads`) until the mask of every head
    /// arrives.
    public struct Pending: Sendable {
        /// The generation of the background job (the `.cut` lane's).
        public var generation: Int
        /// The map it cuts (the map on screen: a new map ends the re-cut).
        var map: PooledMap.ID
        public var settings: MaskSettings
        /// Heads already cut at `settings`, one head each, keyed by head.
        public var done: [Int: BlockMask]
        /// The head the background job reported last.
        public var progress: JobProgress?

        /// Heads cut so far: those in `done` and those the job went past (it cuts in
        /// head order).
        public var headsCut: Int {
            guard case .cut(let head, _)? = progress else { return done.count }
            return Set(done.keys).union(0..<head).count
        }
    }

    /// Cuts of one head of one map at several settings, each `[1, N, N]`.
    public struct Prefetched: Sendable {
        var map: PooledMap.ID
        public var head: Int
        public var cuts: [MaskSettings: BlockMask]
        /// The settings asked for (some may not be cut yet).
        var asked: Set<MaskSettings>
    }

    public var map: PooledMap?
    /// The mask of every head of `map`; while `pending` runs, at older settings (or `nil`
    /// after a new map): see `headMask(_:settings:)` for what each head shows.
    public var mask: BlockMask?
    /// The other heads' re-cut, while it runs.
    public var pending: Pending?
    /// Cuts of the current head at the settings one key away (`AppState.refreshPrefetch()`).
    public var prefetched: Prefetched?
    /// Stage times of the last map computation (pool, map) and the last cut of the head on
    /// screen (cut, sta, stats).
    public var mapTimes = StageTimes()
    public var cutTimes = StageTimes()

    public init() {}

    /// Whether `mask` is of the map on screen at `settings` (a mask of another block grid
    /// or settings is stale).
    public func isCurrent(_ mask: BlockMask, settings: MaskSettings) -> Bool {
        mask.blocks == map?.blocks && mask.settings == settings
    }

    /// The mask of every head, when it is current at `settings` and no re-cut is pending.
    public func wholeMask(at settings: MaskSettings) -> BlockMask? {
        guard pending == nil, let mask, isCurrent(mask, settings: settings) else { return nil }
        return mask
    }

    /// The mask head `h` shows: its own cut at the current settings when the re-cut did it
    /// first, else its part of `mask` (at older settings while the re-cut is pending);
    /// `nil` when neither exists for the current map.
    public func headMask(_ h: Int, settings: MaskSettings) -> HeadMask? {
        if let part = pending?.done[h] { return HeadMask(mask: part, index: 0, isCurrent: true) }
        guard let mask, let map, mask.blocks == map.blocks, h < mask.heads else { return nil }
        return HeadMask(mask: mask, index: h, isCurrent: pending == nil && mask.settings == settings)
    }
}

/// The newest generation of each job lane, kept in one place: a job result counts only
/// when its lane's generation is still its own.
public struct Generations: Sendable, Equatable {
    private var values: [JobLane: Int] = [:]

    public init() {}

    public subscript(lane: JobLane) -> Int {
        get { values[lane] ?? 0 }
        set { values[lane] = newValue }
    }

    /// Starts a new generation of `lane` (older jobs of it become stale) and returns it.
    @discardableResult
    public mutating func advance(_ lane: JobLane) -> Int {
        values[lane, default: 0] += 1
        return values[lane]!
    }
}

extension AppState {
    public typealias PendingCut = CurrentCut.Pending
    public typealias PrefetchedCuts = CurrentCut.Prefetched

    // The parts of `cut` and `generations` by the names the views and jobs use.
    public var map: PooledMap? { get { cut.map } set { cut.map = newValue } }
    public var mask: BlockMask? { get { cut.mask } set { cut.mask = newValue } }
    public var pendingCut: PendingCut? { get { cut.pending } set { cut.pending = newValue } }
    public var prefetched: PrefetchedCuts? { get { cut.prefetched } set { cut.prefetched = newValue } }
    public var mapTimes: StageTimes { get { cut.mapTimes } set { cut.mapTimes = newValue } }
    public var cutTimes: StageTimes { get { cut.cutTimes } set { cut.cutTimes = newValue } }
    /// The newest map-lane generation (loads, block shapes, the survey, saves).
    public var generation: Int { get { generations[.map] } set { generations[.map] = newValue } }
    /// The newest re-cut generation.
    public var cutGeneration: Int { get { generations[.cut] } set { generations[.cut] = newValue } }
    /// The newest attention generation.
    public var attentionGeneration: Int { get { generations[.attention] } set { generations[.attention] = newValue } }
    /// The newest teaching generation.
    public var teachingGeneration: Int { get { generations[.teaching] } set { generations[.teaching] = newValue } }
    /// The mask of every head when it is current (no re-cut pending).
    public var currentMask: BlockMask? { cut.wholeMask(at: settings) }

    /// Whether a spinner turns: a job, the other heads' re-cut or attention runs.
    public var isBusy: Bool { job != nil || pendingCut != nil || attentionJob != nil }

    /// Keeps the mask in step with the map and settings, the head on screen first: when
    /// they changed, cuts the head on screen now (from the cached map) and asks for the
    /// other heads in the background; when the re-cut is pending and the head on screen is
    /// not cut yet (a head change), cuts it now. A newer re-cut makes older ones stale.
    mutating func refreshCut() -> [Effect] {
        guard let map else { return [] }
        if let mask, cut.isCurrent(mask, settings: settings) {
            if pendingCut != nil {
                // Back to the settings of the mask on screen: the re-cut is not needed.
                pendingCut = nil
                cutGeneration += 1
            }
            return []
        }
        let h = currentHead
        if var pending = pendingCut, pending.settings == settings, pending.map == map.id {
            if pending.done[h] == nil {
                let part = cutHead(h, of: map)
                cutTimes = part.times
                pending.done[h] = part
                pendingCut = pending
            }
            return []
        }
        cutGeneration += 1
        let part = cutHead(h, of: map)
        cutTimes = part.times
        if map.heads == 1 {
            pendingCut = nil
            mask = part
            refreshTeaching()
            return []
        }
        pendingCut = PendingCut(generation: cutGeneration, map: map.id, settings: settings, done: [h: part])
        return [.cutHeads(map: map, settings: settings, done: [h: part], generation: cutGeneration)]
    }

    /// Head `h`'s cut at the current settings: made ahead of time, or now.
    mutating func cutHead(_ h: Int, of map: PooledMap) -> BlockMask {
        if let p = prefetched, p.map == map.id, p.head == h, let cut = p.cuts[settings] { return cut }
        return map.cut(settings, heads: h..<(h + 1))
    }

    /// The settings one key away from the current ones: threshold -0.01, +0.01, -0.10,
    /// +0.10 (as the keys round and clamp them) and STA toggled.
    var settingsOneKeyAway: [MaskSettings] {
        let around = [-1, 1, -10, 10].map { settings.stepped(by: $0) }
        var seen: Set<MaskSettings> = [settings]
        return (around + [MaskSettings(threshold: threshold, sta: sta == nil ? staWindow : nil)]).filter { seen.insert($0).inserted }
    }

    /// Unless a map or load runs, asks for the current head's cuts one key away that are
    /// not made or asked for yet (a new map or head starts over). The job runs on the
    /// re-cut lane, before the other heads' re-cut: the next key's re-cut supersedes it,
    /// keeping what it finished.
    mutating func refreshPrefetch() -> [Effect] {
        guard let map, job == nil, map.heads > 0 else { return [] }
        let h = currentHead
        let id = map.id
        if prefetched?.map != id || prefetched?.head != h {
            prefetched = PrefetchedCuts(map: id, head: h, cuts: [:], asked: [])
        }
        let wanted = settingsOneKeyAway
        // Only the neighbours of the current settings are kept (bounded memory).
        prefetched!.cuts = prefetched!.cuts.filter { wanted.contains($0.key) || $0.key == settings }
        let missing = wanted.filter { !prefetched!.asked.contains($0) }
        guard !missing.isEmpty else { return [] }
        prefetched!.asked = Set(wanted).intersection(prefetched!.asked).union(missing)
        return [.prefetchCuts(map: map, head: h, settings: missing, generation: cutGeneration)]
    }

    /// Keeps cuts made ahead of time when they are for the map and head they were asked for.
    mutating func applyPrefetched(_ cuts: [MaskSettings: BlockMask], map id: PooledMap.ID, head h: Int) {
        guard var p = prefetched, p.map == id, p.head == h, map?.id == id else { return }
        p.cuts.merge(cuts) { new, _ in new }
        // What the job did not deliver (it stopped early) is asked again when nothing else runs.
        p.asked = Set(p.cuts.keys)
        prefetched = p
    }

    /// Takes in the mask of every head when it is the newest re-cut's, for the map on screen.
    mutating func applyRecut(_ whole: BlockMask, generation: Int) {
        guard generation == cutGeneration, let map, let pending = pendingCut,
              pending.map == map.id, cut.isCurrent(whole, settings: settings) else { return }
        mask = whole
        pendingCut = nil
        refreshTeaching()
    }


    /// (`cut`, the one its job made, is used when the head and settings still match).
    mutating func replaceMap(_ newMap: PooledMap, cut: BlockMask?) {
        map = newMap
        mapTimes = newMap.times
        mask = nil
        pendingCut = nil
        prefetched = nil
        cutGeneration += 1
        if let cut, cut.blocks == newMap.blocks, cut.heads == 1 {
            let h = currentHead
            prefetched = PrefetchedCuts(map: newMap.id, head: h, cuts: [cut.settings: cut], asked: [cut.settings])
        }
    }

}
