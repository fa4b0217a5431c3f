import NablaCore

/// Pools the input a request names straight from its files, in one read-convert-pool
/// pass (`InputSpec.loadPooled`), telling `observer` how far it is; `nil` when the pass
/// cannot read it (text inputs, a deflated archive member, Fortran order, float64, a
/// non-finite value...): the app then reads it whole with its `InputLoader`, as before.
/// The executable implements it (`nabla view`); tests inject their own.
public typealias PooledLoader = @Sendable (_ request: InputSpec, _ block: BlockShape, _ observer: LoadObserver) throws -> PooledInput?

/// An input whose map is on screen from the one-pass pooling while its token-level
/// Q, K and V (what attention, recall and the teaching views read) are not loaded yet:
/// what the app shows and names of it, the request that loads the rest, and the heads
/// whose token-level data is loaded alone (for the timing panel's attention, read by head:
/// `HeadRead`, `QKInput.reading(...heads:)`).
public struct LazyInput: Sendable {
    /// What the token-level load reads (a dump's pair already resolved).
    public let request: InputSpec
    public let name: String
    public let grid: TokenGrid
    public let order: TokenOrder
    public let edge: EdgeMode
    /// The tensor index of each pooled head (`QKInput.headIndices`).
    public let headIndices: [Int]
    public let headDim: Int
    /// The map-lane generation of the token-level load while it runs.
    public var loading: Int?
    /// The head (tensor index) that load reads alone; `nil` while it reads every head.
    public var loadingHead: Int?
    /// One-head inputs (`[1, S, D]` Q, K, V) by tensor index, at most `cachedHeads`, the
    /// oldest dropped first (`loadOrder`).
    public var heads: [Int: QKInput] = [:]
    var loadOrder: [Int] = []
    /// An action that needs every head's tokens (`:save`, `:edge`) asked for them.
    var wantsWhole = false
    /// How many one-head inputs are kept (Wan2.1-14B at 720p: 62 MB each, bfloat16 Q, K, V).
    static let cachedHeads = 4
    /// Esc stopped the token-level load: it starts again only when an action needs the
    /// tokens (the true block mass `t` turned on, a teaching view opened), not by itself.
    public var declined = false
    /// While declined: whether a teaching view was open and the true mass on at the last
    /// event, so that opening one (not one left open) starts the load again.
    var wanted = (teaching: false, trueMass: false)

    public init(request: InputSpec, pooled: PooledInput) {
        self.request = request
        name = pooled.name
        grid = pooled.grid
        order = pooled.order
        edge = pooled.edge
        headIndices = pooled.headIndices
        headDim = pooled.headDim
    }

    /// The block grid of `block` over the grid under the input's edge mode.
    /// - Throws: `NablaError.badGrid` (see `BlockGrid.init`).
    public func blockGrid(_ block: BlockShape) throws -> BlockGrid {
        try BlockGrid(grid: grid, block: block, edge: edge)
    }

    /// What the status line says while the map is on screen without the token-level data.
    static let notLoadedText = "map ready; token-level data not loaded yet"
}

extension AppState {
    /// Whether an input is on screen: loaded whole, or its map from the pooled pass.
    var hasInput: Bool { input != nil || lazyInput != nil }

    /// Starts the token-level load when the map on screen lacks it and something needs
    /// it, once the other heads' re-cut is done: the timing panel's attention (every head
    /// and mask shows it), unless Esc stopped
    /// the load, then only the true block mass (`t`) or a teaching view. Runs on the map
    /// lane, so Esc stops it (keeping the map) and a block change or load supersedes it.
    ///
    /// The panel needs the head on screen only: that head is read alone (a load of another
    /// head still running gives way to it); a teaching view and `:edge` need every
    /// head, which then makes the input whole.
    mutating func refreshTokens() -> [Effect] {
        // After the other heads' re-cut: the map's first full screen goes first.
        guard input == nil, var lazy = lazyInput, map != nil, pendingCut == nil else { return [] }
        let whole = teaching != nil || lazy.wantsWhole
        let wanted = headIndex
        if let running = job {
            // Only a one-head load may be superseded: by the whole, or by another head.
            guard running.generation == lazy.loading, let reading = lazy.loadingHead, whole || reading != wanted else { return [] }
        }
        if !whole && lazy.heads[wanted] != nil { return [] }
        let now = (teaching: teaching != nil, trueMass: showTrueMass)
        if lazy.declined {
            let asked = (now.teaching && !lazy.wanted.teaching) || (now.trueMass && !lazy.wanted.trueMass)
            lazyInput?.wanted = now
            if !asked { return [] }
        }
        generation += 1
        lazy.loading = generation
        lazy.loadingHead = whole ? nil : wanted
        lazy.declined = false
        lazyInput = lazy
        var request = lazy.request
        if !whole { request.heads = HeadSelection([wanted]) }
        let what = whole ? "token-level data" : "head \(wanted)'s token-level data"
        job = Job(generation: generation, label: "map ready; loading " + what, isCancellable: true)
        return [.loadTokens(request: request, block: block, generation: generation)]
    }

    /// A block change while the map came from the pooled pass: pool the file again at
    /// `shape` (the token-level data a full map computation needs is not there).
    mutating func startRepool(_ shape: BlockShape, _ lazy: LazyInput) -> [Effect] {
        generation += 1
        requestedBlock = shape
        if let map, map.blocks == (try? lazy.blockGrid(shape)) {
            job = nil
            return []
        }
        lazyInput?.loading = nil
        lazyInput?.loadingHead = nil
        job = Job(generation: generation, label: "computing \(shape)", isCancellable: true)
        return [.poolMap(request: lazy.request, block: shape, generation: generation,
                         firstCut: FirstCut(head: head, settings: settings))]
    }

    /// Token-level data arrived: every head's makes the input whole from now on, as if
    /// loaded so; one head's is kept for the timing panel.
    mutating func applyTokens(_ tokens: QKInput) {
        guard var lazy = lazyInput else { return }
        var loaded = tokens
        loaded.edge = lazy.edge
        lazy.loading = nil
        lazy.loadingHead = nil
        guard tokens.headIndices != lazy.headIndices, let h = tokens.headIndices.first, tokens.heads == 1 else {
            input = loaded
            lazyInput = nil
            if message.map({ $0.text.hasPrefix(LazyInput.notLoadedText) }) == true { message = nil }
            return
        }
        lazy.heads[h] = loaded
        lazy.loadOrder = lazy.loadOrder.filter { $0 != h } + [h]
        while lazy.loadOrder.count > LazyInput.cachedHeads { lazy.heads[lazy.loadOrder.removeFirst()] = nil }
        lazyInput = lazy
    }

    /// What the timing panel's attention runs on: the whole input and `nil`, or the head
    /// on screen loaded alone and its slot 0; `nil` when neither is loaded.
    var attentionInput: (QKInput, Int?)? {
        if let input { return (input, nil) }
        return lazyInput?.heads[headIndex].map { ($0, 0) }
    }

    /// `:save DIR` while only the map is loaded: the mask files need no token-level data
    /// (`MaskReport(name:...)`); a running token-level load is superseded (it starts again
    /// after the save).
    mutating func saveMap(_ lazy: LazyInput, to directory: String) -> [Effect] {
        guard let map else {
            message = .error("nothing is loaded to save")
            return []
        }
        if let running = job, running.generation != lazy.loading {
            message = .error("wait for \(running.label) to finish, then :save again")
            return []
        }
        generation += 1
        lazyInput?.loading = nil
        lazyInput?.loadingHead = nil
        job = Job(generation: generation, label: "saving to \(directory)")
        return [.saveMapMask(lazy, map: map, mask: currentMask, settings: settings, directory: directory, generation: generation)]
    }

    /// An action that needs the token-level data while only the map is loaded: the load
    /// starts (again, after Esc) and the status line says to repeat `what` once it is in.
    mutating func waitForTokens(_ what: String) -> [Effect] {
        lazyInput?.declined = false
        lazyInput?.wantsWhole = true
        message = .info("\(what) needs the token-level data, which is loading; \(what) again when it is loaded")
        return []
    }

    /// Esc stopped the token-level load: the map stays; the status line says the data is
    /// not loaded and what loads it.
    mutating func declineTokens() {
        lazyInput?.loading = nil
        lazyInput?.loadingHead = nil
        lazyInput?.declined = true
        lazyInput?.wanted = (teaching != nil, showTrueMass)
        message = .info(LazyInput.notLoadedText + " (t or a view loads it)")
    }
}
