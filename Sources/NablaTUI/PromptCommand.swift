import Foundation
import NablaCore

/// A command typed at the `:` prompt.
public enum PromptCommand: Equatable, Sendable {
    case threshold(Double)
    /// A head, by its tensor index (0-based, as everywhere in nabla).
    case head(Int)
    case block(BlockShape)
    /// What to do with a grid the block does not divide (`--edge`).
    case edge(EdgeMode)
    case sta(STAWindow?)
    /// Compare the current mask with another (`nabla diff`'s mask spec).
    case compare(MaskSpec)
    /// Save the view on screen as a figure, SVG, PNG or PDF by the extension (as `nabla plot`
    /// draws it).
    case plot(String)
    /// Arguments in the same syntax as the commands' inputs.
    case open([String])
    /// Write what the screen shows (all heads, the current block, threshold and STA
    /// window) to a directory, as `nabla mask --out` does.
    case save(String)
    case quit

    /// One prompt command: its name, the other words that run it, its usage and help as
    /// the help screen shows them, and whether its arguments are paths (Tab completes them).
    public struct Entry: Sendable {
        public let name: String
        public let aliases: [String]
        public let usage: String
        public let help: String
        public let takesPaths: Bool
    }

    /// The prompt's commands: the one table that parsing, the help screen, the error
    /// messages and Tab completion all read (the help screen must fit 80x24).
    public static let table: [Entry] = [
        Entry(name: "thr", aliases: ["threshold"], usage: "thr 0.85", help: "threshold in [0, 1]", takesPaths: false),
        Entry(name: "head", aliases: [], usage: "head 5", help: "head (0-based index)", takesPaths: false),
        Entry(name: "block", aliases: [], usage: "block 1x16x16", help: "block shape BTxBHxBW", takesPaths: false),
        Entry(name: "sta", aliases: [], usage: "sta 11x3x3", help: "STA window; sta off", takesPaths: false),
        Entry(name: "edge", aliases: [], usage: "edge crop|pad", help: "grid edge not divided", takesPaths: false),
        Entry(name: "open", aliases: ["o", "e", "edit"], usage: "open PATH...", help: "open Q K [V] or FILE", takesPaths: true),
        Entry(name: "save", aliases: ["w", "write"], usage: "save DIR", help: "as mask --out DIR", takesPaths: true),
        Entry(name: "compare", aliases: ["diff"], usage: "compare SPEC", help: "compare view", takesPaths: false),
        Entry(name: "plot", aliases: [], usage: "plot FILE.svg", help: ".png .pdf: as figure", takesPaths: true),
        Entry(name: "quit", aliases: ["q", "exit"], usage: "quit", help: "quit", takesPaths: false),
    ]

    /// Usage and help of the commands, for the help screen.
    public static var catalog: [(usage: String, help: String)] { table.map { ($0.usage, $0.help) } }

    /// The commands' names, as error messages list them: "thr, head, ..., quit".
    public static var names: String { table.map(\.name).joined(separator: ", ") }

    /// The entry a typed word runs (a name or an alias, in any case), or `nil`.
    public static func entry(_ word: String) -> Entry? {
        let w = word.lowercased()
        return table.first { $0.name == w || $0.aliases.contains(w) }
    }

    /// Parses one prompt line. `headIndices`, the tensor indices of the loaded input's
    /// heads, bounds `head` (which names a head by its tensor index).
    /// - Throws: `NablaError.badArgument` with a one-line message.
    public static func parse(_ line: String, headIndices: [Int]?) throws -> PromptCommand {
        let words = try shellSplit(line)
        guard let name = words.first?.lowercased() else {
            throw NablaError(.badArgument, "empty command (\(names))")
        }
        let args = Array(words.dropFirst())
        func one(_ usage: String) throws -> String {
            guard args.count == 1 else { throw NablaError(.badArgument, "usage: \(usage)") }
            return args[0]
        }
        guard let entry = entry(name) else {
            throw NablaError(.badArgument, "unknown command '\(words[0])' (\(names))")
        }
        switch entry.name {
        case "thr":
            let text = try one("thr VALUE (0 to 1)")
            guard let v = Double(text), v.isFinite, (0...1).contains(v) else {
                throw NablaError(.badArgument, "threshold '\(text)' is not a number in [0, 1]")
            }
            return .threshold(v)
        case "head":
            let text = try one("head N (0-based)")
            guard let v = Int(text) else { throw NablaError(.badArgument, "head '\(text)' is not a whole number") }
            if let headIndices, !headIndices.contains(v) {
                throw NablaError(.badArgument, HeadSelection.missing(v, headIndices: headIndices))
            }
            return .head(v)
        case "block":
            return .block(try BlockShape(parsing: try one("block BTxBHxBW")))
        case "edge":
            let text = try one("edge crop|pad")
            guard let mode = EdgeMode(rawValue: text.lowercased()) else {
                throw NablaError(.badArgument, "edge '\(text)' is not crop or pad")
            }
            return .edge(mode)
        case "sta":
            let text = try one("sta WTxWHxWW | sta off")
            if text.lowercased() == "off" { return .sta(nil) }
            return .sta(try STAWindow(parsing: text))
        case "plot":
            let path = PromptCommand.expandingTilde(try one("plot FILE.svg|FILE.png|FILE.pdf"))
            guard FigureFormat(path: path) != nil else {
                throw NablaError(.badArgument, "plot '\(path)': give a \(FigureFormat.extensionList) file")
            }
            return .plot(path)
        case "compare":
            return .compare(try MaskSpec(parsing: try one("compare SPEC (thr=0.8, sta=11x3x3, topk, dense, mask.npy)")))
        case "open":
            return .open(args.map(PromptCommand.expandingTilde))
        case "save":
            return .save(PromptCommand.expandingTilde(try one("save DIR")))
        case "quit":
            guard args.isEmpty else { throw NablaError(.badArgument, "usage: quit") }
            return .quit
        default:
            preconditionFailure("prompt command '\(entry.name)' is in the table but not parsed")
        }
    }

    /// Splits `line` into words like a POSIX shell without expansions: blanks separate
    /// words; `'...'` keeps everything literally; `"..."` keeps blanks, and a backslash
    /// in it escapes `"` and `\`; outside quotes a backslash escapes any character.
    /// - Throws: `NablaError.badArgument` for an unterminated quote or trailing backslash.
    public static func shellSplit(_ line: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var it = Array(line)[...]
        while let c = it.popFirst() {
            switch c {
            case " ", "\t":
                if inWord { words.append(current); current = ""; inWord = false }
            case "'":
                inWord = true
                guard let end = it.firstIndex(of: "'") else { throw NablaError(.badArgument, "unterminated ' quote") }
                current += String(it[..<end])
                it = it[(end + 1)...]
            case "\"":
                inWord = true
                var closed = false
                while let d = it.popFirst() {
                    if d == "\"" { closed = true; break }
                    if d == "\\", let e = it.first, e == "\"" || e == "\\" {
                        current.append(e)
                        it = it.dropFirst()
                    } else {
                        current.append(d)
                    }
                }
                guard closed else { throw NablaError(.badArgument, "unterminated \" quote") }
            case "\\":
                guard let e = it.popFirst() else { throw NablaError(.badArgument, "trailing backslash") }
                current.append(e)
                inWord = true
            default:
                current.append(c)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// `~` and `~/...` as the shell expands them, from `HOME`; `~user` is left alone.
    static func expandingTilde(_ word: String) -> String {
        guard word == "~" || word.hasPrefix("~/"), let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty else {
            return word
        }
        return home + word.dropFirst()
    }
}
