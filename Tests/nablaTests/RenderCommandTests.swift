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
