import Foundation
import Testing

/// The screens of the teaching views in docs/app.md are what the commands they name print.
@Suite("docs/app.md teaching screens")
struct ReadmeTeachingTests {
    /// `docs/app.md`, where the app's text screens live (the README links to it).
    static func readme() throws -> String {
        try String(contentsOfFile: Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/app.md").path, encoding: .utf8)
    }

    @Test("each teaching view's screen in docs/app.md equals nabla render's", arguments: [
        ("c", "--keys c`"), (":sta 11x3x3<Enter>f", "--keys ':sta 11x3x3<Enter>f'`"), ("w", "--keys w`"),
    ])
    func screen(keys: String, marker: String) throws {
        let text = try Self.readme()
        let at = try #require(text.range(of: "`nabla render --size 100x28 --no-color " + marker))
        let open = try #require(text[at.upperBound...].range(of: "```\n"))
        let close = try #require(text[open.upperBound...].range(of: "```\n"))
        let shown = String(text[open.upperBound..<close.lowerBound])
        let r = try NablaProcess.run(["render", "--size", "100x28", "--no-color", "--keys", keys],
                                     environment: ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"])
        #expect(r.status == 0)
        #expect(Self.untimed(shown) == Self.untimed(r.stdout), "docs/app.md screen for \(keys) differs from nabla render's")
    }

    /// The screen with the sweep's kernel timings (milliseconds and the measured speed-up,
    /// one run each on a shared machine) replaced by `#`; every other figure stays.
    static func untimed(_ screen: String) -> String {
        screen.replacingOccurrences(of: #"dense \d+\.\d ms"#, with: "dense # ms", options: .regularExpression)
            .replacingOccurrences(of: #"(\d\.\d\d) +\d+\.\d +\d+\.\d\dx"#, with: "$1 # #x", options: .regularExpression)
    }
}
