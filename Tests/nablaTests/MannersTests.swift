import Foundation
import Testing

/// The command line's manners: one-line errors that say what is wrong and where to look.
@Suite("Command-line manners")
struct MannersTests {
    func expectOneLine(_ r: NablaProcess.Result, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status != 0, sourceLocation: sourceLocation)
        #expect(r.stderr == "error: " + expected + "\n", sourceLocation: sourceLocation)
    }

    @Test("an unknown word that names no file is an unknown subcommand, with the nearest one",
          arguments: [("maks", "mask"), ("rendr", "render"), ("bnech", "bench"), ("inf", "info"), ("smaple", "sample")])
    func unknownSubcommand(word: String, nearest: String) throws {
        let r = try NablaProcess.run([word])
        #expect(r.status == 64)
        #expect(r.stderr.hasPrefix("error: unknown subcommand '\(word)' (and no file of that name); did you mean '\(nearest)'?"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test("a word far from every subcommand gets the list; a missing file keeps its own error")
    func unknownOthers() throws {
        let far = try NablaProcess.run(["frobnicate"])
        #expect(far.stderr.hasPrefix("error: unknown subcommand 'frobnicate' (and no file of that name) (subcommands: view, mask"))
        let file = try NablaProcess.run(["missing.npy"])
        #expect(file.status != 0 && !file.stderr.contains("subcommand"), "\(file.stderr)")
    }

    @Test("option errors point at the help of the subcommand they were made in",
          arguments: [(["mask", "--threshold", "2"], "mask"), (["bench", "--threshold", "-1"], "bench"),
                      (["render", "--threshold", "nan"], "render"), (["mask"], "mask"), (["info", "--bogus"], "info"),
                      (["--threshold", "7"], "view")])
    func optionErrors(arguments: [String], command: String) throws {
        let r = try NablaProcess.run(arguments)
        #expect(r.status == 64)
        #expect(r.stderr.hasSuffix(" (see 'nabla help \(command)')\n"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test("--size names its limit", arguments: ["1001x100", "100x1001", "0x40", "120x0"])
    func sizeLimit(size: String) throws {
        expectOneLine(try NablaProcess.run(["render", "--size", size]), "size '\(size)': columns and rows must be 1 to 1000")
    }

    @Test("--size that is not WxH says the form")
    func sizeForm() throws {
        expectOneLine(try NablaProcess.run(["render", "--size", "wide"]), "size 'wide' is not of the form WxH (columns x rows, e.g. 120x40)")
    }

    @Test("a block that does not divide the grid: the shapes that do are suggested, in every command",
          arguments: ["mask", "bench", "info"])
    func suggestBlocks(command: String) throws {
        var args = [command, "--block", "1x7x7"]
        if command != "info" { args += ["--threshold", "0.5"] }
        let r = try NablaProcess.run(args)
        // info describes the input (exit 0) and says what the block would do; the others refuse.
        #expect((r.status != 0) == (command != "info"))
        #expect((r.stderr + r.stdout).contains("grid 16x32x48 is not divisible by block 1x7x7; blocks that divide it: 1x4x4, 1x8x8, 1x16x16, 2x8x8, 4x4x4"),
                "\(command): \(r.stderr)")
    }

    @Test("mask and bench write block, grid and STA window in one form: three integers")
    func oneBlockForm() throws {
        for args in [["mask", "--threshold", "0.5", "--sta", "3x1x1", "--json"], ["bench", "--repeat", "1", "--sta", "3x1x1", "--json"]] {
            let r = try NablaProcess.run(args)
            #expect(r.status == 0, "\(args[0]): \(r.stderr)")
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            #expect(obj["block"] as? [Int] == [1, 8, 8], "\(args[0])")
            #expect(obj["grid"] as? [Int] == [16, 32, 48], "\(args[0])")
            #expect(obj["sta"] as? [Int] == [3, 1, 1], "\(args[0])")
        }
    }
}
