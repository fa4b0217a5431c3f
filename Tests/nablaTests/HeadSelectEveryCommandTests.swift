import Foundation
import NablaCore
import Testing

/// `--head-select` acts on every command that accepts it (issue 19: `attend` accepted it and
/// computed every head). The walk covers every subcommand whose help lists the option, so a
/// new command cannot accept it without being checked here.
@Suite("--head-select on every command")
struct HeadSelectEveryCommandTests {
    /// Every value of a key named `head` anywhere in a JSON value.
    static func heads(in value: Any) -> Set<Int> {
        switch value {
        case let d as [String: Any]:
            var found = Set<Int>()
            for (key, v) in d {
                if key == "head", let h = v as? Int { found.insert(h) } else { found.formUnion(heads(in: v)) }
            }
            return found
        case let a as [Any]: return a.reduce(into: Set<Int>()) { $0.formUnion(heads(in: $1)) }
        default: return []
        }
    }

    /// The argument lists that run each command on `inputs` with heads 1 and 3 of 4.
    static func runs(_ inputs: [String], dir: String) -> [String: [String]] {
        let select = ["--head-select", "1,3"]
        return [
            "mask": ["mask"] + inputs + select + ["--threshold", "0.7", "--json"],
            "attend": ["attend"] + inputs + select + ["--threshold", "0.7", "--recall", "--dense", "--json"],
            "diff": ["diff", "thr=0.9", "thr=0.5"] + inputs + select + ["--json"],
            "sweep": ["sweep"] + inputs + select + ["--json"],
            "bench": ["bench"] + inputs + select + ["--json"],
            "plot": ["plot"] + inputs + select + ["--threshold", "0.7", "--out", dir + "/p.svg"],
            "render": ["render"] + inputs + select + ["--size", "100x30", "--no-color"],
            "view": [], // the app: render is its headless screen (same loader and state)
        ]
    }

    @Test("each command reports and computes heads 1 and 3 only, named by tensor index")
    func everyCommand() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = [4, 2, 16, 16, 8]
        let (q, k) = try MaskCommandTests.writeQK(dir, shape: shape)
        try NPY.write((0..<shape.reduce(1, *)).map { Float(sin(Double($0) * 0.07)) }, shape: shape, to: dir + "/v.npy")
        let runs = Self.runs([q, k, dir + "/v.npy"], dir: dir)

        // Which commands accept the option, from their own help.
        let top = try NablaProcess.run(["--help"])
        let names = Self.subcommandNames(fromHelp: top.stdout)
        var accepting: [String] = []
        for name in names {
            let help = try NablaProcess.run([name, "--help"])
            if help.stdout.contains("--head-select") { accepting.append(name) }
        }
        #expect(!accepting.isEmpty)
        #expect(Set(accepting).isSubset(of: Set(runs.keys)), "commands accepting --head-select without a check here: \(Set(accepting).subtracting(runs.keys))")

        for (name, arguments) in runs.sorted(by: { $0.key < $1.key }) where !arguments.isEmpty {
            let r = try NablaProcess.run(arguments)
            #expect(r.status == 0, "\(name): \(r.stderr)")
            if arguments.contains("--json") {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(name)")
                #expect(object["num_heads"] as? Int == 2, "\(name): num_heads \(String(describing: object["num_heads"]))")
                let named = Self.heads(in: object)
                #expect(named.isSubset(of: [1, 3]), "\(name) names heads \(named)")
                if ["mask", "attend", "diff", "sweep"].contains(name) { #expect(named == [1, 3], "\(name) names heads \(named)") }
            } else if name == "plot" {
                let svg = try String(contentsOfFile: dir + "/p.svg", encoding: .utf8)
                #expect(svg.contains("head 1"), "plot draws the first selected head")
            } else if name == "render" {
                #expect(r.stdout.contains("head 1 (sel. 1,3)"), "\(r.stdout.suffix(200))")
            }
        }
    }

    @Test("attend with --head-select equals those heads of the full run")
    func attendSubsetEqualsFull() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = [4, 2, 16, 16, 8]
        let (q, k) = try MaskCommandTests.writeQK(dir, shape: shape)
        let v = dir + "/v.npy"
        try NPY.write((0..<shape.reduce(1, *)).map { Float(cos(Double($0) * 0.05)) }, shape: shape, to: v)
        let full = try NablaProcess.run(["attend", q, k, v, "--threshold", "0.7", "--out", dir + "/full"])
        #expect(full.status == 0, "\(full.stderr)")
        let part = try NablaProcess.run(["attend", q, k, v, "--threshold", "0.7", "--head-select", "1,3", "--out", dir + "/part"])
        #expect(part.status == 0, "\(part.stderr)")
        let all = try NPY.read(path: dir + "/full/out.npy"), sub = try NPY.read(path: dir + "/part/out.npy")
        #expect(sub.shape == [2, 2, 16, 16, 8])
        let per = shape.dropFirst().reduce(1, *)
        let a = all.floats(), s = sub.floats()
        guard s.count == 2 * per, a.count == 4 * per else { return }
        let head1 = Array(s[0..<per]) == Array(a[per..<2 * per]), head3 = Array(s[per..<2 * per]) == Array(a[3 * per..<4 * per])
        #expect(head1 && head3, "heads 1 and 3 of the subset run differ from the full run's")
    }

    /// The subcommand names listed under SUBCOMMANDS in `nabla --help`.
    static func subcommandNames(fromHelp help: String) -> [String] {
        var names: [String] = []
        var inList = false
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("SUBCOMMANDS") { inList = true; continue }
            guard inList else { continue }
            if line.isEmpty { if names.isEmpty { continue } else { break } }
            let word = line.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
            if line.hasPrefix("  "), !line.hasPrefix("        "), !word.isEmpty { names.append(word) }
        }
        return names
    }
}
