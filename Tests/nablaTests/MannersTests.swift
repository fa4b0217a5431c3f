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

    @Test("a block that does not divide the grid: partial edge blocks, said in every command (issue 18)",
          arguments: ["mask", "bench", "info"])
    func edgeSaid(command: String) throws {
        var args = [command, "--block", "1x7x7"]
        if command != "info" { args += ["--threshold", "0.5"] }
        if command == "bench" { args += ["--repeat", "1", "--attention-heads", "0"] }
        let r = try NablaProcess.run(args)
        #expect(r.status == 0, "\(command): \(r.stderr)")
        #expect((r.stderr + r.stdout).contains("edge pad: block 1x7x7 does not divide grid 16x32x48; block grid 16x5x7 (ceiling)"),
                "\(command): \(r.stderr)")
        // --edge on a grid the block divides: accepted, no effect, said once.
        let divides = try NablaProcess.run([command, "--edge", "crop"] + (command == "info" ? [] : ["--threshold", "0.5"])
                                           + (command == "bench" ? ["--repeat", "1", "--attention-heads", "0"] : []))
        #expect(divides.status == 0)
        #expect(divides.stderr.components(separatedBy: "--edge crop has no effect: block 1x8x8 divides grid 16x32x48").count == 2,
                "\(command): \(divides.stderr)")
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

@Suite("Command-line manners, continued")
struct MoreMannersTests {
    @Test("info takes FILE:KEY like every other command, and names the tensors when the key is not there")
    func infoKey() throws {
        let file = Fixtures.path("golden/bf16-safetensors/qk.safetensors")
        let r = try NablaProcess.run(["info", file + ":k"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("chosen     k bfloat16"))
        let json = try NablaProcess.run(["info", file + ":q", "--json"])
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((obj["chosen"] as? [String: Any])?["key"] as? String == "q")
        let missing = try NablaProcess.run(["info", file + ":nope"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "error: \(file): no tensor 'nope' (tensors: k, q)\n" || missing.stderr == "error: \(file): no tensor 'nope' (tensors: q, k)\n",
                "\(missing.stderr)")
    }

    @Test("sample without --out writes nothing and says how")
    func sampleNeedsOut() throws {
        let dir = try Fixtures.temporaryDirectory("nabla-sample-cwd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try NablaProcess.run(["sample"], directory: dir)
        #expect(r.status == 64)
        #expect(r.stderr.hasPrefix("error: say where to write the sample files with --out DIR"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test("summary.json says how to use the rows with FlexAttention: BLOCK_SIZE, block order, the loading call")
    func flexAttentionNotes() throws {
        let out = try Fixtures.temporaryDirectory("nabla-flex")
        defer { try? FileManager.default.removeItem(atPath: out) }
        for (block, tokens) in [("1x8x8", 64), ("2x8x8", 128), ("1x4x4", 16)] {
            let r = try NablaProcess.run(["mask", "--threshold", "0.9", "--block", block, "--out", out])
            #expect(r.status == 0, "\(r.stderr)")
            let data = try Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))
            let obj = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let flex = try #require(obj["flex_attention"] as? [String: Any])
            #expect(flex["BLOCK_SIZE"] as? Int == tokens)
            #expect(flex["token_order"] as? String == "block")
            #expect((flex["load"] as? String)?.contains("BlockMask.from_kv_blocks(") == true)
            #expect((flex["load"] as? String)?.hasSuffix("BLOCK_SIZE=\(tokens))") == true)
            #expect((flex["note"] as? String)?.contains("without a mask_mod ignores block sparsity") == true)
        }
    }
}

@Suite("The app saves what it shows")
struct SaveCommandTests {
    @Test(":save DIR writes the files nabla mask --out writes, byte for byte (summary timing aside); ~ is HOME")
    func saveMatchesMask() throws {
        let home = try Fixtures.temporaryDirectory("nabla-save-home")
        defer { try? FileManager.default.removeItem(atPath: home) }
        let settings = ["--threshold", "0.7", "--sta", "3x1x1", "--block", "1x16x16"]
        let app = try NablaProcess.run(["render", "--size", "100x30", "--keys", "]>:save ~/from-app<Enter>"] + settings,
                                       environment: ["HOME": home])
        #expect(app.status == 0, "\(app.stderr)")
        #expect(app.stdout.contains("wrote mask.npy"), "\(app.stdout.suffix(400))")
        let cli = try NablaProcess.run(["mask", "--out", home + "/from-cli", "--threshold", "0.71", "--sta", "3x1x1", "--block", "1x16x16"])
        #expect(cli.status == 0, "\(cli.stderr)")
        for name in ["mask.npy", "kv_num_blocks.npy", "kv_indices.npy", "frame_coverage.npy"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: home + "/from-app/" + name))
            let b = try Data(contentsOf: URL(fileURLWithPath: home + "/from-cli/" + name))
            #expect(a == b, "\(name) differs")
        }
        func summary(_ dir: String) throws -> [String: Any] {
            var obj = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as? [String: Any])
            obj["timing_ms"] = nil
            return obj
        }
        let a = try summary(home + "/from-app"), b = try summary(home + "/from-cli")
        #expect(NSDictionary(dictionary: a).isEqual(to: b))
    }

    @Test(":save with nothing to save, or while a job runs, says so and writes nothing")
    func saveRefused() throws {
        let r = try NablaProcess.run(["render", "--size", "100x30", "--keys", ":save<Enter>"])
        #expect(r.stdout.contains("error: usage: save DIR"))
    }
}
