import Foundation

extension AppState {
    /// A key at the `:` prompt: editing with a cursor (Left, Right, Home, End, Ctrl-A,
    /// Ctrl-E, Backspace, Delete, Ctrl-U), history (Up, Down), Tab completion of command
    /// names and paths, Enter runs the line, Esc leaves.
    mutating func promptKey(_ key: Key, text: String) -> [Effect] {
        var chars = Array(text)
        var cursor = min(max(promptCursor, 0), chars.count)
        switch key {
        case .enter:
            mode = .normal
            if !text.trimmingCharacters(in: .whitespaces).isEmpty, promptHistory.last != text { promptHistory.append(text) }
            historyIndex = nil
            return execute(text)
        case .escape:
            mode = .normal
            return []
        case .control("c"):
            return perform(.quit)
        case .backspace:
            if chars.isEmpty {
                mode = .normal
                return []
            }
            if cursor > 0 {
                chars.remove(at: cursor - 1)
                cursor -= 1
            }
        case .delete:
            if cursor < chars.count { chars.remove(at: cursor) }
        case .control("u"):
            chars.removeFirst(cursor)
            cursor = 0
        case .left: cursor = max(cursor - 1, 0)
        case .right: cursor = min(cursor + 1, chars.count)
        case .home, .control("a"): cursor = 0
        case .end, .control("e"): cursor = chars.count
        case .up, .down:
            guard !promptHistory.isEmpty else { return [] }
            let last = promptHistory.count - 1
            let index: Int?
            if key == .up {
                index = max((historyIndex ?? promptHistory.count) - 1, 0)
            } else {
                index = historyIndex.flatMap { $0 < last ? $0 + 1 : nil }
            }
            historyIndex = index
            chars = Array(index.map { promptHistory[$0] } ?? "")
            cursor = chars.count
        case .tab:
            let before = String(chars[..<cursor])
            if let completed = PromptCompletion.complete(before) {
                chars = Array(completed) + chars[cursor...]
                cursor = completed.count
            }
        case .character(let c):
            chars.insert(c, at: cursor)
            cursor += 1
        default:
            return []
        }
        mode = .prompt(String(chars))
        promptCursor = cursor
        return []
    }
}

/// Tab completion at the prompt: the command name in the first word, paths after
/// `open` and `save`.
public enum PromptCompletion {
    /// The words that complete the first word: every command's name and its aliases of
    /// four letters or more (`threshold`, `edit`), from `PromptCommand.table`.
    static var commands: [String] {
        PromptCommand.table.flatMap { [$0.name] + $0.aliases.filter { $0.count >= 4 } }
    }

    /// `line` (the text before the cursor) with its last word completed as far as it is
    /// unambiguous: a whole command name gets a space, a directory a `/`, a file a space;
    /// `nil` when there is nothing to add. `list` gives a directory's entries (names, and
    /// whether each is a directory).
    public static func complete(_ line: String,
                                list: (String) -> [(name: String, directory: Bool)] = PromptCompletion.listDirectory) -> String? {
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let last = words.last ?? ""
        let head = String(line.dropLast(last.count))
        if words.count <= 1 {
            let matches = commands.filter { $0.hasPrefix(last.lowercased()) }
            guard !matches.isEmpty else { return nil }
            let completed = matches.count == 1 ? matches[0] + " " : commonPrefix(matches)
            return completed.count > last.count ? head + completed : nil
        }
        guard PromptCommand.entry(words[0])?.takesPaths == true else { return nil }
        // Paths: the directory part as typed (with ~ as HOME), the rest a prefix of an entry.
        let slash = last.lastIndex(of: "/")
        let dirTyped = slash.map { String(last[...$0]) } ?? ""
        let prefix = slash.map { String(last[last.index(after: $0)...]) } ?? last
        let dir = dirTyped.isEmpty ? "." : PromptCommand.expandingTilde(dirTyped)
        let matches = list(dir).filter { $0.name.hasPrefix(prefix) && (prefix.hasPrefix(".") || !$0.name.hasPrefix(".")) }
        guard !matches.isEmpty else { return nil }
        let completed: String
        if matches.count == 1 {
            completed = matches[0].name + (matches[0].directory ? "/" : " ")
        } else {
            completed = commonPrefix(matches.map(\.name))
        }
        return completed.count > prefix.count || matches.count == 1 ? head + dirTyped + completed : nil
    }

    /// The entries of directory `path`, sorted; none when it cannot be read.
    public static func listDirectory(_ path: String) -> [(name: String, directory: Bool)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { name in
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(name), isDirectory: &isDirectory)
            return (name, isDirectory.boolValue)
        }
    }

    static func commonPrefix(_ words: [String]) -> String {
        guard var prefix = words.first else { return "" }
        for w in words.dropFirst() {
            while !w.hasPrefix(prefix) { prefix.removeLast() }
        }
        return prefix
    }
}
