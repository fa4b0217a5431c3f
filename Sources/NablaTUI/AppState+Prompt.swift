import Foundation

extension AppState {
    /// A key at the `:` prompt: editing with a cursor (Left, Right, Home, End, Ctrl-A,
    /// Ctrl-E, Backspace, Delete, Ctrl-U), history (Up, Down), Tab completion of command
    /// names and paths, Enter runs the line, Esc leaves.
    mutating func promptKey(_ key: Key, text: String) -> [Effect] {
        var chars = Array(text)
        var cursor = min(max(promptCursor, 0), chars.count)
        guard let action = Keymap.prompt.action(for: key) else {
            // Any other character is typed; other keys do nothing.
            guard case .character(let c) = key else { return [] }
            chars.insert(c, at: cursor)
            mode = .prompt(String(chars))
            promptCursor = cursor + 1
            return []
        }
        switch action {
        case .run:
            mode = .normal
            if !text.trimmingCharacters(in: .whitespaces).isEmpty, promptHistory.last != text { promptHistory.append(text) }
            historyIndex = nil
            return execute(text)
        case .leave:
            mode = .normal
            return []
        case .quit:
            return perform(.quit)
        case .deleteBackward:
            if chars.isEmpty {
                mode = .normal
                return []
            }
            if cursor > 0 {
                chars.remove(at: cursor - 1)
                cursor -= 1
            }
        case .deleteForward:
            if cursor < chars.count { chars.remove(at: cursor) }
        case .deleteToStart:
            chars.removeFirst(cursor)
            cursor = 0
        case .left: cursor = max(cursor - 1, 0)
        case .right: cursor = min(cursor + 1, chars.count)
        case .start: cursor = 0
        case .end: cursor = chars.count
        case .older, .newer:
            guard !promptHistory.isEmpty else { return [] }
            let last = promptHistory.count - 1
            let index: Int?
            if action == .older {
                index = max((historyIndex ?? promptHistory.count) - 1, 0)
            } else {
                index = historyIndex.flatMap { $0 < last ? $0 + 1 : nil }
            }
            historyIndex = index
            chars = Array(index.map { promptHistory[$0] } ?? "")
            cursor = chars.count
        case .complete:
            let before = String(chars[..<cursor])
            // A path is completed from a listing the runtime makes (`completeListed`).
            if let directory = PromptCompletion.directoryToList(before) {
                return [.listDirectory(path: directory, line: before, generation: generations.advance(.files))]
            }
            if let completed = PromptCompletion.complete(before, list: { _ in [] }) {
                chars = Array(completed) + chars[cursor...]
                cursor = completed.count
            }
        }
        mode = .prompt(String(chars))
        promptCursor = cursor
        return []
    }

    /// Completes the prompt's `line` (its text before the cursor when Tab was pressed)
    /// from the listing `entries`, if the prompt still shows that text there.
    mutating func completeListed(_ line: String, _ entries: [DirectoryEntry]) {
        guard case .prompt(let text) = mode else { return }
        let chars = Array(text)
        guard promptCursor <= chars.count, String(chars[..<promptCursor]) == line,
              let completed = PromptCompletion.complete(line, list: { _ in entries.map { ($0.name, $0.isDirectory) } }) else { return }
        mode = .prompt(completed + String(chars[promptCursor...]))
        promptCursor = completed.count
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
        guard let word = pathWord(line) else { return completeCommand(line) }
        let matches = list(word.directory).filter { $0.name.hasPrefix(word.prefix) && (word.prefix.hasPrefix(".") || !$0.name.hasPrefix(".")) }
        guard !matches.isEmpty else { return nil }
        let completed: String
        if matches.count == 1 {
            completed = matches[0].name + (matches[0].directory ? "/" : " ")
        } else {
            completed = commonPrefix(matches.map(\.name))
        }
        return completed.count > word.prefix.count || matches.count == 1 ? word.head + word.typed + completed : nil
    }

    /// The directory Tab must list to complete `line`, when its last word is a path.
    public static func directoryToList(_ line: String) -> String? { pathWord(line)?.directory }

    /// The path being typed at the end of `line`: the text before it, its directory part
    /// as typed and as a path to list (with ~ as HOME), and the prefix of the entry.
    static func pathWord(_ line: String) -> (head: String, typed: String, directory: String, prefix: String)? {
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard words.count > 1, PromptCommand.entry(words[0])?.takesPaths == true else { return nil }
        let last = words.last ?? ""
        let slash = last.lastIndex(of: "/")
        let typed = slash.map { String(last[...$0]) } ?? ""
        let prefix = slash.map { String(last[last.index(after: $0)...]) } ?? last
        return (String(line.dropLast(last.count)), typed, typed.isEmpty ? "." : PromptCommand.expandingTilde(typed), prefix)
    }

    /// `line` with its first word completed as a command name, when it is the only word.
    static func completeCommand(_ line: String) -> String? {
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard words.count <= 1 else { return nil }
        let last = words.last ?? ""
        let matches = commands.filter { $0.hasPrefix(last.lowercased()) }
        guard !matches.isEmpty else { return nil }
        let completed = matches.count == 1 ? matches[0] + " " : commonPrefix(matches)
        return completed.count > last.count ? completed : nil
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
