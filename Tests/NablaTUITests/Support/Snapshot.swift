import Foundation
import Testing
import NablaTUI

/// Compares a screen's text with `Snapshots/<name>.txt`. With `NABLA_RECORD_SNAPSHOTS=1`
/// the file is (re)written instead; a missing snapshot fails.
/// With `roles`, the screen's colour roles and attributes are compared too, with
/// `Snapshots/<name>.roles.txt` (see `roleText`).
func expectSnapshot(_ screen: Screen, _ name: String, roles: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
    expectSnapshotText(screen.text + "\n", name, sourceLocation: sourceLocation)
    if roles { expectSnapshotText(roleText(screen), name + ".roles", sourceLocation: sourceLocation) }
}

/// One character per cell for its foreground role, then for its background role, then
/// its attributes: `.` normal, `,` muted, `+` accent, `*` title, `!` error, `@` cursor,
/// `#` outline, `=` status bar, `~` ink, `<` only A, `>` only B, `&` both, `$` STA only; kept levels 0-31 `A`-`Z` `0`-`5`; dropped
/// levels 0-7 `a`-`h`; grey levels 0-15 `i`-`x`; attributes as a hex digit
/// (1 bold, 2 dim, 4 reverse, 8 underline).
func roleText(_ screen: Screen) -> String {
    let kept = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"), dropped = Array("abcdefgh"), grey = Array("ijklmnopqrstuvwx")
    func code(_ role: ColorRole) -> Character {
        switch role {
        case .normal: "."
        case .muted: ","
        case .accent: "+"
        case .title: "*"
        case .error: "!"
        case .cursor: "@"
        case .outline: "#"
        case .statusBar: "="
        case .ink: "~"
        case .onlyA: "<"
        case .onlyB: ">"
        case .both: "&"
        case .mixed: "%"
        case .staOnly: "$"
        case .kept(let l): kept[Int(l)]
        case .dropped(let l): dropped[Int(l)]
        case .grey(let l): grey[Int(l)]
        case .video: "^"
        }
    }
    let w = screen.size.width
    func rows(_ f: (Cell) -> Character) -> String {
        stride(from: 0, to: screen.cells.count, by: w).map { String(screen.cells[$0..<($0 + w)].map(f)) }.joined(separator: "\n")
    }
    return "foreground\n" + rows { code($0.foreground) } + "\nbackground\n" + rows { code($0.background) }
        + "\nattributes\n" + rows { Character(String($0.attributes.rawValue, radix: 16)) } + "\n"
}

func expectSnapshotText(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Snapshots").appendingPathComponent(name + ".txt")
    if ProcessInfo.processInfo.environment["NABLA_RECORD_SNAPSHOTS"] == "1" {
        do {
            try text.write(to: url, atomically: true, encoding: .utf8)
        } catch {
            Issue.record("cannot write snapshot \(url.path): \(error)", sourceLocation: sourceLocation)
        }
        return
    }
    guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
        Issue.record("missing snapshot \(name).txt; record it with NABLA_RECORD_SNAPSHOTS=1\n\(text)", sourceLocation: sourceLocation)
        return
    }
    if expected != text {
        let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let b = text.split(separator: "\n", omittingEmptySubsequences: false)
        let line = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        let want = line < a.count ? String(a[line]) : "(end)"
        let got = line < b.count ? String(b[line]) : "(end)"
        // The whole screen goes to a file; the issue names the first differing line.
        let actual = FileManager.default.temporaryDirectory.appendingPathComponent("nabla-snapshots")
        try? FileManager.default.createDirectory(at: actual, withIntermediateDirectories: true)
        let file = actual.appendingPathComponent(name + ".txt")
        try? text.write(to: file, atomically: true, encoding: .utf8)
        Issue.record("snapshot \(name) differs at line \(line + 1) (this run's screen: \(file.path))\nexpected: \(want)\n     got: \(got)",
                     sourceLocation: sourceLocation)
    }
}
