import NablaCore

extension AppState {
    mutating func setZoom(_ level: Int) {
        guard let map else { return }
        let layout = ScreenLayout(state: self, size: size)
        let view = Viewport(n: map.n, pixelsWide: layout.pixelsWide, pixelsTall: layout.pixelsTall, zoom: level)
        zoom = view.zoom
        origin = view.centred(on: cursor)
    }

    /// Clamps zoom and origin to the map and panel and scrolls the cursor into view.
    mutating func keepCursorInView() {
        guard let map else { return }
        cursor = BlockPair(query: clamp(cursor.query, map.n), key: clamp(cursor.key, map.n))
        guard let view = viewport else { return }
        zoom = view.zoom
        origin = view.following(cursor)
    }
}

func clamp(_ v: Int, _ n: Int) -> Int { min(max(v, 0), max(n - 1, 0)) }
