import NablaCore

/// A key press, in the vim-like notation `--keys` and the help use: plain characters
/// are themselves; special keys are `<Up>`, `<Down>`, `<Left>`, `<Right>`, `<Esc>`,
/// `<Enter>`, `<Tab>`, `<BS>`, `<PageUp>`, `<PageDown>`, `<Home>`, `<End>`, `<Del>`,
/// `<Space>`, `<C-x>` (control), and `<lt>` for a literal `<`.
public enum Key: Hashable, Sendable, CustomStringConvertible {
    case character(Character)
    case up, down, left, right
    case escape, enter, tab, backspace, delete
    case pageUp, pageDown, home, end
    /// Control with a letter, lowercase: `.control("c")` is Ctrl-C.
    case control(Character)

    static let names: [(String, Key)] = [
        ("Up", .up), ("Down", .down), ("Left", .left), ("Right", .right),
        ("Esc", .escape), ("Enter", .enter), ("Tab", .tab), ("BS", .backspace), ("Del", .delete),
        ("PageUp", .pageUp), ("PageDown", .pageDown), ("Home", .home), ("End", .end),
        ("Space", .character(" ")), ("lt", .character("<")),
        ("CR", .enter), ("Return", .enter), ("Backspace", .backspace),
    ]

    public var description: String {
        switch self {
        case .character(" "): return "<Space>"
        case .character(let c): return String(c)
        case .control(let c): return "<C-\(c)>"
        default: return "<" + (Key.names.first { $0.1 == self }?.0 ?? "?") + ">"
        }
    }

    /// Parses a key sequence such as `:thr 0.5<Enter>]]o`. A `<` that does not start a
    /// name (`<`, `< 3>`, `<0.5>`) is a literal `<`; `<lt>` always is.
    /// - Throws: `NablaError.badArgument` for `<C-...>` with anything but one letter, and
    ///   for a name nabla does not know (`<Foo>`), listing the names it does.
    public static func parseSequence(_ text: String) throws -> [Key] {
        var keys: [Key] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "<", let close = text[i...].firstIndex(of: ">"), close > text.index(after: i) {
                let name = String(text[text.index(after: i)..<close])
                if let key = try named(name) {
                    keys.append(key)
                    i = text.index(after: close)
                    continue
                }
                if let first = name.first, first.isLetter, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) {
                    let known = names.map { "<\($0.0)>" }.joined(separator: " ")
                    throw NablaError(.badArgument, "unknown key <\(name)> (known: \(known) <C-a>...<C-z>)")
                }
            }
            keys.append(.character(c))
            i = text.index(after: i)
        }
        return keys
    }

    static func named(_ name: String) throws -> Key? {
        if let k = names.first(where: { $0.0.lowercased() == name.lowercased() })?.1 { return k }
        let lower = name.lowercased()
        if lower.hasPrefix("c-") {
            let rest = name.dropFirst(2)
            guard rest.count == 1, let ch = rest.first, ch.isLetter, ch.isASCII else {
                throw NablaError(.badArgument, "key <\(name)>: control keys are <C-a> ... <C-z>")
            }
            return .control(Character(ch.lowercased()))
        }
        return nil
    }
}

/// A mouse event at a cell.
public struct MouseEvent: Hashable, Sendable {
    public enum Kind: Hashable, Sendable { case press, wheelUp, wheelDown }
    public var kind: Kind
    public var x: Int
    public var y: Int

    public init(_ kind: Kind, x: Int, y: Int) {
        self.kind = kind
        self.x = x
        self.y = y
    }
}

/// Everything that can happen to the app.
public enum InputEvent: Sendable {
    case key(Key)
    case mouse(MouseEvent)
    case resize(Size)
    /// A background job of `lane` ended; `generation` is the one it was started for.
    case jobFinished(lane: JobLane, generation: Int, outcome: JobOutcome)
    /// A running job of `lane` and `generation` reached a new stage (or moved on in it).
    case jobProgress(lane: JobLane, generation: Int, progress: JobProgress)
    /// Time passed while a job runs (animates the spinner).
    case tick

    /// The event that reports `outcome` of the job `effect` started.
    public static func finished(_ effect: Effect, _ outcome: JobOutcome) -> InputEvent {
        .jobFinished(lane: effect.lane, generation: effect.generation ?? 0, outcome: outcome)
    }
}
