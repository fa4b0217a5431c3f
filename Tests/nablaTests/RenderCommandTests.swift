import Testing

@Suite("nabla render")
struct RenderCommandTests {
    @Test("prints the screen after key presses as plain text")
    func render() throws {
        let result = try NablaProcess.run(["render", "--size", "80x24", "--keys", ":thr 0.5<Enter>"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("thr 0.50"))
        #expect(!result.stdout.contains("\u{1B}"))
        // 24 rows, each ending in a newline.
        #expect(result.stdout.split(separator: "\n", omittingEmptySubsequences: false).count == 25)
        #expect(result.stdout.hasSuffix("\n"))
    }

    @Test("a size below the minimum renders the size message; bad options are errors")
    func small() throws {
        let result = try NablaProcess.run(["render", "--size", "30x10", "--no-color"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("needs 60x16"))
        let bad = try NablaProcess.run(["render", "--size", "big"])
        #expect(bad.status != 0 && bad.stderr.contains("size 'big'"))
        let keys = try NablaProcess.run(["render", "--keys", "<C-12>"])
        #expect(keys.status != 0 && keys.stderr.hasPrefix("error:"))
    }
}

@Suite("docs/app.md")
struct ReadmeScreenTests {
    @Test("the app's text screen in docs/app.md is exactly what the command it names prints")
    func textScreenIsHonest() throws {
        let readme = try ReadmeTeachingTests.readme()
        let marker = "`nabla render --size 100x28 --no-color --keys '+'` prints; only the times, the speed-up and the kernel level differ from run to run):\n\n```\n"
        let start = try #require(readme.range(of: marker)).upperBound
        let end = try #require(readme[start...].range(of: "```\n")).lowerBound
        let shown = String(readme[start..<end])
        let r = try NablaProcess.run(["render", "--size", "100x28", "--no-color", "--keys", "+"], environment: ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"])
        #expect(r.status == 0)
        // Times (two decimals, right-aligned, so also the spaces before them), the
        // attention speed-up and share of peak differ from run to run, the kernel level
        // from machine to machine; everything else is the same.
        func masked(_ text: String) -> String {
            text.replacingOccurrences(of: #" *\d+\.\d\d(?!\d)"#, with: " #.##", options: .regularExpression)
                .replacingOccurrences(of: #"kernels [a-z0-9]+"#, with: "kernels #", options: .regularExpression)
        }
        #expect(masked(shown) == masked(r.stdout))
        #expect(shown.split(separator: "\n").count == 28)
    }
}
