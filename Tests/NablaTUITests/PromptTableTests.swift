import NablaCore
import Testing
@testable import NablaTUI

/// The prompt's commands come from one table (`PromptCommand.table`): parsing, the help
/// screen, the error message and Tab completion agree with it (issue 16 item 4; issue 20
/// item 9: the error listed the commands without `save`, completion lacked compare and plot).
@Suite("prompt command table")
struct PromptTableTests {
    /// One valid line per command, written here, independent of the table.
    static let examples: [String: (line: String, expected: PromptCommand)] = [
        "thr": ("thr 0.5", .threshold(0.5)),
        "head": ("head 1", .head(1)),
        "block": ("block 1x4x4", .block(BlockShape(bt: 1, bh: 4, bw: 4))),
        "sta": ("sta off", .sta(nil)),
        "edge": ("edge crop", .edge(.crop)),
        "open": ("open a.npy b.npy", .open(["a.npy", "b.npy"])),
        "save": ("save out", .save("out")),
        "compare": ("compare thr=0.5", .compare(try! MaskSpec(parsing: "thr=0.5"))),
        "plot": ("plot x.svg", .plot("x.svg")),
        "quit": ("quit", .quit),
    ]

    @Test("every command in the table parses, by its name and by every alias")
    func everyEntryParses() throws {
        #expect(Set(PromptCommand.table.map(\.name)) == Set(Self.examples.keys))
        for entry in PromptCommand.table {
            let example = try #require(Self.examples[entry.name])
            #expect(try PromptCommand.parse(example.line, headIndices: [0, 1]) == example.expected)
            let rest = example.line.split(separator: " ").dropFirst().joined(separator: " ")
            for alias in entry.aliases {
                #expect(try PromptCommand.parse(alias + (rest.isEmpty ? "" : " " + rest), headIndices: [0, 1]) == example.expected, "\(alias)")
            }
        }
    }

    @Test("an unknown command lists every command, save, compare and plot included")
    func unknownListsAll() {
        let error = #expect(throws: NablaError.self) { try PromptCommand.parse("foo", headIndices: nil) }
        for name in Self.examples.keys { #expect(error?.message.contains(name) == true, "\(name)") }
    }

    @Test("Tab completes every command's name, and paths after the commands that take them")
    func completion() {
        for name in Self.examples.keys {
            #expect(PromptCompletion.complete(String(name.prefix(name.count - 1)), list: { _ in [] }).map { $0.hasPrefix(name) || name.hasPrefix($0) } == true, "\(name)")
        }
        #expect(PromptCompletion.complete("co", list: { _ in [] }) == "compare ")
        #expect(PromptCompletion.complete("pl", list: { _ in [] }) == "plot ")
        let entries: (String) -> [(name: String, directory: Bool)] = { _ in [("figure.svg", false)] }
        #expect(PromptCompletion.complete("plot fi", list: entries) == "plot figure.svg ")
        #expect(PromptCompletion.complete("save fi", list: entries) == "save figure.svg ")
        #expect(PromptCompletion.complete("thr fi", list: entries) == nil)
    }

    @Test("the help screen lists every command's usage")
    func helpLists() {
        #expect(PromptCommand.catalog.map(\.usage) == PromptCommand.table.map(\.usage))
        #expect(Set(PromptCommand.table.map { $0.usage.split(separator: " ")[0] }.map(String.init)) == Set(Self.examples.keys))
    }
}
