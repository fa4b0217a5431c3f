/// What a key asks the app to do.
public enum Action: Hashable, Sendable {
    /// Moves the cursor by whole pixels of the map (one block when zoomed in fully).
    case moveCursor(query: Int, key: Int)
    /// Moves the cursor by whole frame slabs.
    case moveFrame(query: Int, key: Int)
    case zoomIn, zoomOut, zoomFit
    /// `+1` next head, `-1` previous (wrapping).
    case changeHead(Int)
    /// Threshold change in hundredths.
    case changeThreshold(hundredths: Int)
    /// `+1` the next standard block shape that divides the grid, `-1` the previous.
    case cycleBlock(Int)
    case toggleSTA
    case toggleOverview
    /// `+1` the next Q/K pair of a whole-model dump, `-1` the previous (wrapping).
    case changePair(Int)
    /// The model view: density over pairs x heads.
    case toggleModel
    /// Opens the selected pair and head (model view: `<Enter>`, which its title names,
    /// or a click; not in the keymap, whose help must fit 80x24).
    case select
    /// Switches the block map, and the kept tiles of the follow view, between the pooled
    /// estimate and the true block mass.
    case toggleTrueMass
    /// Opens a teaching view (compare, follow, sweep); again: compare steps B, follow the
    /// stage, sweep closes.
    case teach(TeachingKind)
    case toggleHelp
    case openPrompt
    /// Back: closes help, leaves the prompt or the heads overview, clears a message.
    case cancel
    case quit
}

/// A keymap entry: the keys, what they do, and the line the help shows.
public struct Binding: Sendable, Equatable {
    public let keys: [Key]
    public let action: Action
    public let help: String

    public init(_ keys: [Key], _ action: Action, _ help: String) {
        self.keys = keys
        self.action = action
        self.help = help
    }

    /// The keys in `--keys` notation, separated by spaces.
    public var keysText: String { keys.map(\.description).joined(separator: " ") }
}

/// The table the app dispatches keys on; the help screen is generated from it.
public struct Keymap: Sendable {
    public let bindings: [Binding]

    public init(_ bindings: [Binding]) {
        self.bindings = bindings
    }

    /// The action bound to `key`, if any.
    public func action(for key: Key) -> Action? {
        bindings.first { $0.keys.contains(key) }?.action
    }

    private static func chars(_ s: String) -> [Key] { s.map(Key.character) }

    /// The keys of the normal mode (threshold steps: 0.01 and 0.10).
    public static let standard = Keymap([
        Binding([.left] + chars("h"), .moveCursor(query: 0, key: -1), "cursor left, one pixel"),
        Binding([.right] + chars("l"), .moveCursor(query: 0, key: 1), "cursor right, one pixel"),
        Binding([.up] + chars("k"), .moveCursor(query: -1, key: 0), "cursor up, one pixel"),
        Binding([.down] + chars("j"), .moveCursor(query: 1, key: 0), "cursor down, one pixel"),
        Binding(chars("H"), .moveFrame(query: 0, key: -1), "previous key frame"),
        Binding(chars("L"), .moveFrame(query: 0, key: 1), "next key frame"),
        Binding(chars("K"), .moveFrame(query: -1, key: 0), "previous query frame"),
        Binding(chars("J"), .moveFrame(query: 1, key: 0), "next query frame"),
        Binding(chars("+="), .zoomIn, "zoom in"),
        Binding(chars("-"), .zoomOut, "zoom out"),
        Binding(chars("0"), .zoomFit, "fit the map"),
        Binding(chars("["), .changeHead(-1), "previous head"),
        Binding(chars("]"), .changeHead(1), "next head"),
        Binding(chars("<,"), .changeThreshold(hundredths: -1), "threshold -0.01"),
        Binding(chars(">."), .changeThreshold(hundredths: 1), "threshold +0.01"),
        Binding(chars("{") + [.pageDown], .changeThreshold(hundredths: -10), "threshold -0.10"),
        Binding(chars("}") + [.pageUp], .changeThreshold(hundredths: 10), "threshold +0.10"),
        Binding(chars("b"), .cycleBlock(1), "next block shape"),
        Binding(chars("B"), .cycleBlock(-1), "previous block shape"),
        Binding(chars("s"), .toggleSTA, "STA window on/off"),
        Binding(chars("o"), .toggleOverview, "heads overview"),
        Binding(chars("n"), .changePair(1), "next pair (layer/step)"),
        Binding(chars("p"), .changePair(-1), "previous pair"),
        Binding(chars("m"), .toggleModel, "model view (density)"),
        Binding(chars("t"), .toggleTrueMass, "pooled / true block mass"),
        Binding(chars("c"), .teach(.compare), "compare; again: next B"),
        Binding(chars("f"), .teach(.follow), "follow; again: stage"),
        Binding(chars("w"), .teach(.sweep), "threshold sweep"),
        Binding(chars("M"), .teach(.methods), "methods: recall/density"),
        Binding(chars(":"), .openPrompt, "command prompt"),
        Binding(chars("?"), .toggleHelp, "help (<Esc> closes)"),
        Binding([.escape], .cancel, "back (help, a view)"),
        Binding(chars("q") + [.control("c")], .quit, "quit"),
    ])
}
