extension AppState {
    /// The help's lines, generated from the tables the app dispatches on: the open view's
    /// `KeyTable` first (`Keymap.model`, `.follow`, `.compare`, `.sweep` or `.methods`, when
    /// the help is opened from that view), the map's keymap, and the prompt's command
    /// catalog: headers
    /// (`header` true) and entries. docs/app.md lists every table (with the help's and the
    /// prompt's editing keys), checked by KeymapTests.
    public var helpLines: [(text: String, header: Bool)] {
        var lines: [(text: String, header: Bool)] = []
        func add<A>(_ table: KeyTable<A>) {
            lines.append((table.name, true))
            let width = table.entries.map(\.keysText.count).max() ?? 0
            for e in table.entries { lines.append((e.keysText.rightPadded(to: width) + "  " + e.help, false)) }
        }
        // The open view's own keys first: they come before the map's there.
        if model != nil {
            add(Keymap.model)
        } else if map != nil {
            switch teaching {
            case .follow?: add(Keymap.follow)
            case .compare?: add(Keymap.compare)
            case .sweep?: add(Keymap.sweep)
            case .methods?: add(Keymap.methods)
            case nil: break
            }
        }
        let keyWidth = keymap.bindings.map(\.keysText.count).max() ?? 0
        lines.append((lines.isEmpty ? "Keys" : "Keys (the map's; the view's above come first)", true))
        for b in keymap.bindings {
            lines.append((b.keysText.rightPadded(to: keyWidth) + "  " + b.help, false))
        }
        lines.append(("Prompt (:)", true))
        let usageWidth = (PromptCommand.catalog.map(\.usage.count).max() ?? 0) + 1
        for c in PromptCommand.catalog {
            lines.append((":" + c.usage.rightPadded(to: usageWidth) + " " + c.help, false))
        }
        lines.append(("Mouse", true))
        if mouseEnabled {
            lines.append(("click  select a block/head", false))
            lines.append(("wheel  zoom in and out", false))
        } else {
            lines.append(("off (--no-mouse)", false))
        }
        return lines
    }

    /// How many lines the help has.
    var helpLineCount: Int { helpLines.count }
}
