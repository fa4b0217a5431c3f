/// The keys of the app's other contexts, each a table as `Keymap.standard` is for the map:
/// the help screen, the `:` prompt, and the model, follow, compare and sweep views (whose
/// tables come before the map's keymap while the view is open). The app dispatches on these tables
/// and the help screen lists them (`AppState.helpLines`), so a key is never handled where
/// no table names it.
public struct KeyTable<A: Hashable & Sendable>: Sendable {
    /// A context's binding: keys, what they do, and the help line.
    public struct Entry: Sendable {
        public let keys: [Key]
        public let action: A
        public let help: String

        /// The keys in `--keys` notation, separated by spaces.
        public var keysText: String { keys.map(\.description).joined(separator: " ") }
    }

    /// The context's name, as the help's header shows it.
    public let name: String
    public let entries: [Entry]

    init(_ name: String, _ entries: [([Key], A, String)]) {
        self.name = name
        self.entries = entries.map { Entry(keys: $0.0, action: $0.1, help: $0.2) }
    }

    /// The action bound to `key`, if any.
    public func action(for key: Key) -> A? {
        entries.first { $0.keys.contains(key) }?.action
    }
}

/// What a key does while the help is open.
public enum HelpAction: Hashable, Sendable {
    case close, quit
    /// Scroll by lines (negative: up).
    case scroll(Int)
    /// Scroll by pages (negative: up).
    case page(Int)
    case top, bottom
}

/// What a key does at the `:` prompt (other characters are typed).
public enum PromptAction: Hashable, Sendable {
    case run, leave, quit
    case deleteBackward, deleteForward, deleteToStart
    case left, right, start, end
    case older, newer
    case complete
}

/// What a key does in the model view (the map's other keys: threshold and STA keys act as
/// on the map; the others do nothing there).
public enum ModelAction: Hashable, Sendable {
    case open, close
    /// Switches the heatmap between density and recall.
    case layer
    /// Moves the cell by pairs (rows) and heads (columns), stopping at the edges.
    case move(pairs: Int, heads: Int)
    /// Steps the head, wrapping around.
    case head(Int)
    /// Steps the pair, wrapping around.
    case pair(Int)
}

/// What a key does in the follow view (the map's other keys act as on the map).
public enum FollowAction: Hashable, Sendable {
    /// Steps the followed query block by tiles within its frame.
    case tile(rows: Int, columns: Int)
    /// Steps the followed query block by frames.
    case frame(Int)
    case nextStage
}

/// What a key does in the compare view (the map's other keys act as on the map).
public enum CompareAction: Hashable, Sendable {
    case nextPreset
}

/// What a key does in the sweep view (the map's other keys act as on the map).
public enum SweepAction: Hashable, Sendable {
    case close
}

/// What a key does in the methods view (`MethodsView`), before the map's keys (which
/// still change the head, threshold and STA window the view follows).
public enum MethodsAction: Hashable, Sendable {
    /// The previous / next point of the selected curve (by density).
    case point(Int)
    /// The previous / next method's curve.
    case method(Int)
    /// The head on screen / every head averaged.
    case toggleHeads
    /// The selected point's mask as B of the compare view.
    case compare
}

extension Keymap {
    /// The help screen's keys.
    public static let help = KeyTable<HelpAction>("Help", [
        ([.character("?"), .escape], .close, "close the help"),
        ([.character("j"), .down], .scroll(1), "scroll down a line"),
        ([.character("k"), .up], .scroll(-1), "scroll up a line"),
        ([.pageDown, .character(" ")], .page(1), "scroll down a page"),
        ([.pageUp], .page(-1), "scroll up a page"),
        ([.home], .top, "to the top"),
        ([.end], .bottom, "to the end"),
        ([.character("q"), .control("c")], .quit, "quit"),
    ])

    /// The `:` prompt's editing keys.
    public static let prompt = KeyTable<PromptAction>("Prompt editing", [
        ([.enter], .run, "run the line"),
        ([.escape], .leave, "leave the prompt"),
        ([.tab], .complete, "complete a command or path"),
        ([.up], .older, "older line run before"),
        ([.down], .newer, "newer line run before"),
        ([.left], .left, "cursor left"),
        ([.right], .right, "cursor right"),
        ([.home, .control("a")], .start, "cursor to the start"),
        ([.end, .control("e")], .end, "cursor to the end"),
        ([.backspace], .deleteBackward, "delete before (empty: leave)"),
        ([.delete], .deleteForward, "delete under the cursor"),
        ([.control("u")], .deleteToStart, "delete to the start"),
        ([.control("c")], .quit, "quit"),
    ])

    /// The model view's own keys; they come before the map's.
    public static let model = KeyTable<ModelAction>("Model view (m)", [
        ([.enter], .open, "open the pair and head"),
        ([.left, .character("h"), .character("H")], .move(pairs: 0, heads: -1), "cell left: the head before"),
        ([.right, .character("l"), .character("L")], .move(pairs: 0, heads: 1), "cell right: the next head"),
        ([.up, .character("k"), .character("K")], .move(pairs: -1, heads: 0), "cell up: the pair before"),
        ([.down, .character("j"), .character("J")], .move(pairs: 1, heads: 0), "cell down: the next pair"),
        ([.character("[")], .head(-1), "the head before (wrapping)"),
        ([.character("]")], .head(1), "the next head (wrapping)"),
        ([.character("p")], .pair(-1), "the pair before (wrapping)"),
        ([.character("n")], .pair(1), "the next pair (wrapping)"),
        ([.character("r")], .layer, "density / recall (estimates ~ first)"),
        ([.character("m"), .escape], .close, "back to the map"),
    ])

    /// The follow view's own keys (they step the followed query block); they come before
    /// the map's.
    public static let follow = KeyTable<FollowAction>("Follow view (f)", [
        ([.left, .character("h")], .tile(rows: 0, columns: -1), "tile left"),
        ([.right, .character("l")], .tile(rows: 0, columns: 1), "tile right"),
        ([.up, .character("k")], .tile(rows: -1, columns: 0), "tile above"),
        ([.down, .character("j")], .tile(rows: 1, columns: 0), "tile below"),
        ([.character("K"), .character("H")], .frame(-1), "frame before"),
        ([.character("J"), .character("L")], .frame(1), "next frame"),
        ([.character("f")], .nextStage, "next stage"),
    ])

    /// The compare view's own keys; they come before the map's.
    public static let compare = KeyTable<CompareAction>("Compare view (c)", [
        ([.character("c")], .nextPreset, "the next preset B"),
    ])

    /// The sweep view's own keys; they come before the map's.
    public static let sweep = KeyTable<SweepAction>("Sweep view (w)", [
        ([.character("w")], .close, "close the sweep"),
    ])

    /// The methods view's own keys.
    public static let methods = KeyTable<MethodsAction>("Methods view (M)", [
        ([.left, .character("h")], .point(-1), "previous point"),
        ([.right, .character("l")], .point(1), "next point"),
        ([.up, .character("k")], .method(-1), "previous method"),
        ([.down, .character("j")], .method(1), "next method"),
        ([.character("a")], .toggleHeads, "head / all heads"),
        ([.enter], .compare, "point as compare B"),
    ])
}
