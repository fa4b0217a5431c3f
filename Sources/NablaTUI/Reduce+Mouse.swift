import NablaCore

extension AppState {
    mutating func mouseEvent(_ m: MouseEvent) -> [Effect] {
        guard mouseEnabled, mode != .help else { return [] }
        switch m.kind {
        case .wheelUp: return perform(.zoomIn)
        case .wheelDown: return perform(.zoomOut)
        case .press: break
        }
        if model != nil {
            return clickModel(x: m.x, y: m.y) ? perform(.select) : []
        }
        guard let map, let view = viewport else { return [] }
        let layout = ScreenLayout(state: self, size: size)
        guard !layout.tooSmall else { return [] }
        if overview {
            let thumbs = ScreenLayout.thumbnails(heads: map.heads, in: layout.overviewArea,
                                                 pixelRowsPerCell: layout.pixelRowsPerCell, cellsPerPixel: layout.cellsPerPixel)
            if let h = thumbs.firstIndex(where: { $0.pixels.contains(x: m.x, y: m.y) || $0.label.contains(x: m.x, y: m.y) }) {
                head = h
            }
            return []
        }
        guard layout.mapArea.contains(x: m.x, y: m.y) else { return [] }
        let px = (m.x - layout.mapArea.x) / layout.cellsPerPixel
        let py = (m.y - layout.mapArea.y) * layout.pixelRowsPerCell
        guard px < view.drawnWidth, py < view.drawnHeight else { return [] }
        let rows = view.blocks(pixel: py, from: view.origin.query)
        let cols = view.blocks(pixel: px, from: view.origin.key)
        guard let a = rows.first, let b = cols.first else { return [] }
        cursor = BlockPair(query: a, key: b)
        return []
    }
}
