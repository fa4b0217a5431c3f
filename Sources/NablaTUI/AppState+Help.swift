extension AppState {
    /// The help's lines, generated from the keymap the app dispatches on and the prompt's
    /// command catalog: headers (`header` true) and entries. (The help's own keys, the
    /// prompt's editing keys and the model view's are tables too, `Keymap.help`,
    /// `.prompt`, `.model`, and the methods view's, `.methods`, listed under the keys; docs/app.md lists them, checked by KeymapTests.)
    public var helpLines: [(text: String, header: Bool)] {
        var lines: [(text: String, header: Bool)] = []
        let keyWidth = keymap.bindings.map(\.keysText.count).max() ?? 0
        lines.append(("Keys", true))
        for b in keymap.bindings {
            lines.append((b.keysText.rightPadded(to: keyWidth) + "  " + b.help, false))
        }
        // The methods view's own keys, in the same column (`M: ` before what they do there).
        for e in Keymap.methods.entries {
            lines.append((e.keysText.rightPadded(to: keyWidth) + "  M: " + e.help, false))
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
