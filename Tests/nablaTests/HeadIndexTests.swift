import Foundation
import Testing

/// Heads are named by their tensor index everywhere: under `--head-select 3,5` the first
/// loaded head is head 3 in every command's output, every title of the app, `--head` and
/// `:head` (a position among the selected heads is never shown as a head's name).
@Suite("heads named by tensor index under a head selection")
struct HeadIndexTests {
    static func field(_ json: String, _ key: String) throws -> [Int] {
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        func walk(_ v: Any) -> [Int] {
            if let d = v as? [String: Any] {
                return (d[key] as? Int).map { [$0] } ?? [] + d.keys.sorted().flatMap { walk(d[$0]!) }
            }
            if let a = v as? [Any] { return a.flatMap(walk) }
            return []
        }
        return walk(obj)
    }

    @Test("render: the status line, map title and side panels name the selected heads 3 and 5")
    func render() throws {
        let first = try NablaProcess.run(["render", "--head-select", "3,5", "--size", "120x40"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("head 3 (sel. 3,5)"), "\(first.stdout)")
        #expect(first.stdout.contains("frame coverage, head 3"), "\(first.stdout)")
        #expect(!first.stdout.contains("head 0"), "\(first.stdout)")
        let second = try NablaProcess.run(["render", "--head-select", "3,5", "--head", "5", "--size", "120x40"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("head 5 (sel. 3,5)") && second.stdout.contains("frame coverage, head 5"), "\(second.stdout)")
        // The same head without a selection is the same map: its density matches.
        let plain = try NablaProcess.run(["render", "--head", "5", "--size", "120x40"])
        #expect(plain.stdout.contains("head 5 (0-7)"), "\(plain.stdout)")
        func kept(_ text: String) -> String? {
            text.split(separator: "\n").first { $0.contains(" kept · ") }.flatMap { line in
                line.components(separatedBy: " · ").first { $0.hasSuffix(" kept") }
            }
        }
        #expect(kept(second.stdout) != nil && kept(second.stdout) == kept(plain.stdout), "\(second.stdout)")
    }

    @Test("the prompt's :head takes a tensor index and refuses one outside the selection")
    func prompt() throws {
        let good = try NablaProcess.run(["render", "--head-select", "3,5", "--keys", ":head 5<Enter>", "--size", "120x40"])
        #expect(good.stdout.contains("head 5 (sel. 3,5)"), "\(good.stdout)")
        let bad = try NablaProcess.run(["render", "--head-select", "3,5", "--keys", ":head 1<Enter>", "--size", "120x40"])
        #expect(bad.stdout.contains("head 1 is not among the selected heads 3,5"), "\(bad.stdout)")
    }

    @Test("--head outside the input or the selection is refused in one line, exit 64, before any screen",
          arguments: [(["view", "--head", "9"], "--head 9 is out of range: the input has 8 heads, 0-7"),
                      (["view", "--head-select", "3,5", "--head", "4"], "--head 4 is not among the selected heads 3,5"),
                      (["render", "--head-select", "3,5", "--head", "0"], "--head 0 is not among the selected heads 3,5"),
                      (["plot", "--head-select", "3,5", "--head", "0", "--out", "/nonexistent/x.svg"], "--head 0 is not among the selected heads 3,5"),
                      (["plot", "--head", "-1", "--out", "/nonexistent/x.svg"], "--head -1 is below 0")])
    func refused(arguments: [String], message: String) throws {
        let r = try NablaProcess.run(arguments)
        #expect(r.status == 64, "\(r.status) \(r.stderr)")
        #expect(r.stderr.hasPrefix("error: " + message), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1 && !r.stderr.contains("\u{1b}"), "\(r.stderr)")
    }

    @Test("plot defaults to the first selected head and names heads by tensor index, the overview too; bench's attention rows too")
    func plotAndBench() throws {
        let dir = try Fixtures.temporaryDirectory("nabla-head-plot")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let map = try NablaProcess.run(["plot", "--head-select", "3,5", "--view", "map", "--out", dir + "/map.svg"])
        #expect(map.status == 0, "\(map.stderr)")
        let mapSVG = try String(contentsOfFile: dir + "/map.svg", encoding: .utf8)
        #expect(mapSVG.contains("head 3 ·") && !mapSVG.contains("head 0 ·"))
        let overview = try NablaProcess.run(["plot", "--head-select", "3,5", "--view", "overview", "--out", dir + "/o.svg"])
        #expect(overview.status == 0, "\(overview.stderr)")
        let svg = try String(contentsOfFile: dir + "/o.svg", encoding: .utf8)
        #expect(svg.contains("head 3: ") && svg.contains("head 5: ") && !svg.contains("head 0: ") && svg.contains("heads 3,5 ·"))
        let bench = try NablaProcess.run(["bench", "--head-select", "3,5", "--attention-heads", "1", "--repeat", "1", "--json"])
        #expect(bench.status == 0, "\(bench.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
        #expect((obj["attention"] as? [String: Any])?["heads"] as? [Int] == [3], "\(bench.stdout.prefix(300))")
    }

    @Test("diff, sweep and attend --json name the heads 3 and 5")
    func reports() throws {
        let diff = try NablaProcess.run(["diff", "thr=0.9", "sta=3x3x3", "--head-select", "3,5", "--json"])
        #expect(diff.status == 0, "\(diff.stderr)")
        #expect(Set(try Self.field(diff.stdout, "head")) == [3, 5], "\(diff.stdout.prefix(400))")
        let sweep = try NablaProcess.run(["sweep", "--head-select", "3,5", "--thresholds", "0.5,0.9", "--measure", "none", "--json"])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        #expect(Set(try Self.field(sweep.stdout, "head")) == [3, 5], "\(sweep.stdout.prefix(400))")
        let attend = try NablaProcess.run(["attend", "--threshold", "0.9", "--head-select", "3,5", "--json"])
        #expect(attend.status == 0, "\(attend.stderr)")
        #expect(Set(try Self.field(attend.stdout, "head")) == [3, 5], "\(attend.stdout.prefix(400))")
        // The text tables too: rows start with the tensor index.
        let text = try NablaProcess.run(["diff", "thr=0.9", "sta=3x3x3", "--head-select", "3,5"])
        let rows = text.stdout.split(separator: "\n").compactMap { line -> Int? in
            let words = line.split(separator: " ")
            return words.count > 3 && line.contains("%") ? Int(words[0]) : nil
        }
        #expect(rows == [3, 5], "\(text.stdout)")
    }
}

/// Option values that start with '-' (a negative number, a path) reach nabla's own
/// checks for every option of every subcommand, instead of ArgumentParser's "missing value".
@Suite("command-line values and exit statuses")
struct OptionValueTests {
    /// Every (subcommand, long option taking a value), from ArgumentParser's own dump.
    static func options() throws -> [(String, String)] {
        let r = try NablaProcess.run(["--experimental-dump-help"])
        let root = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let command = try #require(root["command"] as? [String: Any])
        var out: [(String, String)] = []
        for sub in command["subcommands"] as? [[String: Any]] ?? [] {
            guard let name = sub["commandName"] as? String, name != "help" else { continue }
            for arg in sub["arguments"] as? [[String: Any]] ?? [] where arg["kind"] as? String == "option" {
                let long = (arg["names"] as? [[String: Any]] ?? []).first { $0["kind"] as? String == "long" }
                if let option = long?["name"] as? String, option != "help" { out.append((name, option)) }
            }
        }
        return out
    }

    @Test("every option of every subcommand takes a value starting with '-'")
    func dashValues() throws {
        let all = try Self.options()
        #expect(all.count > 40, "\(all.count) options found")
        #expect(all.contains { $0 == ("plot", "head") } && all.contains { $0 == ("mask", "seed") })
        for (command, option) in all {
            // The unknown option after it stops the command before anything runs.
            let r = try NablaProcess.run([command, "--" + option, "-1", "--no-such-option"])
            #expect(r.status == 64, "\(command) --\(option): \(r.status)")
            #expect(!r.stderr.lowercased().contains("missing value"), "\(command) --\(option): \(r.stderr)")
        }
    }

    @Test("a negative number reaches the option's own check", arguments: [
        (["plot", "--head", "-1", "--out", "/nonexistent/x.svg"], "--head -1 is below 0"),
        (["bench", "--threshold", "-0.5"], "threshold"),
        (["mask", "--threshold", "0.5", "--heads", "-2"], "heads"),
    ])
    func negative(arguments: [String], mentions: String) throws {
        let r = try NablaProcess.run(arguments)
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains(mentions) && !r.stderr.contains("issing value"), "\(r.stderr)")
    }

    @Test("ArgumentParser's messages start in lower case, like nabla's own")
    func lowerCase() throws {
        for args in [["plot", "--bogus"], ["mask", "--threshold"], ["info", "a", "b", "c", "d", "e"], ["sample", "--size", "x", "--out", "/nonexistent"]] {
            let r = try NablaProcess.run(args)
            #expect(r.status == 64, "\(args): \(r.stderr)")
            let firstLetter = r.stderr.dropFirst("error: ".count).first { $0.isLetter }
            #expect(r.stderr.hasPrefix("error: ") && firstLetter?.isLowercase == true, "\(args): \(r.stderr)")
        }
    }

    @Test("a bad value exits 64 whoever checks it; a bad input file exits 1", arguments: [
        // (1x7x7 no longer: a block that does not divide the grid gives partial edge blocks, issue 18.)
        (["mask", "--threshold", "0.5", "--block", "1x0x8"], 64),
        (["mask", "--threshold", "0.5", "--edge", "sideways"], 64),
        (["render", "--size", "0x40"], 64),
        (["mask", "--threshold", "0.5", "--head-select", "9"], 64),
        (["diff", "thr=2", "dense"], 64),
        (["mask", "--threshold", "0.5", "/nonexistent/q.npy", "/nonexistent/k.npy"], 1),
    ] as [([String], Int32)])
    func exitStatus(arguments: [String], status: Int32) throws {
        let r = try NablaProcess.run(arguments)
        #expect(r.status == status, "\(arguments): \(r.status) \(r.stderr)")
        #expect(r.stderr.hasPrefix("error: ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }

    @Test("render refuses a bad layout with 64 like the other commands; attend --out onto a file says so in nabla's words; no capital after ArgumentParser's full stop")
    func moreManners() throws {
        let q = Fixtures.path("golden/nabla-plus-sta/q.npy"), k = Fixtures.path("golden/nabla-plus-sta/k.npy")
        let render = try NablaProcess.run(["render", q, k, "--grid", "6x16x15", "--order", "raster"])
        #expect(render.status == 64 && render.stderr.contains("--grid 6x16x15 disagrees"), "\(render.status) \(render.stderr)")
        let dir = try Fixtures.temporaryDirectory("nabla-attend-file")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/afile"
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        let attend = try NablaProcess.run(["attend", "--threshold", "0.9", "--out", file])
        #expect(attend.stderr == "error: cannot write \(file): it exists and is not a directory\n", "\(attend.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "x")
        let bogus = try NablaProcess.run(["mask", "--threshold", "0.9", "--bogus"])
        #expect(bogus.stderr.hasPrefix("error: unknown option '--bogus'; did you mean"), "\(bogus.stderr)")
    }

    @Test("diff with the second spec forgotten says so instead of misreading Q as a mask")
    func diffMissingSpec() throws {
        let q = Fixtures.path("golden/nabla-plus-sta/q.npy"), k = Fixtures.path("golden/nabla-plus-sta/k.npy")
        let r = try NablaProcess.run(["diff", "thr=0.5", q, k])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("not a mask") && r.stderr.contains("nabla diff A B"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }
}
