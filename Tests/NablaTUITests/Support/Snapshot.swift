import Foundation
import Testing
import NablaTUI

/// Compares a screen's text with `Snapshots/<name>.txt`. With `NABLA_RECORD_SNAPSHOTS=1`
/// the file is (re)written instead; a missing snapshot fails.
func expectSnapshot(_ screen: Screen, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Snapshots").appendingPathComponent(name + ".txt")
    let text = screen.text + "\n"
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
