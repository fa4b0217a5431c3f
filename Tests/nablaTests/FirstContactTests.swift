import Foundation
import NablaCore
import Testing

/// First contact on the command line (issue 20, items 4, 14 and 15): the words a user types
/// first are understood by meaning, STA windows are never silently rounded, and every pair
/// of a dump has a name that selects it.
@Suite("first contact: --thr, meant options, odd STA windows, pair names")
struct FirstContactTests {
    static func density(_ stdout: String) -> Double? {
        guard let data = stdout.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["density"] as? Double
    }

    @Test("--thr is --threshold, on mask and on the commands sharing the mask options")
    func thrAlias() throws {
        let long = try NablaProcess.run(["mask", "--threshold", "0.55", "--json"])
        let short = try NablaProcess.run(["mask", "--thr", "0.55", "--json"])
        #expect(long.status == 0 && short.status == 0, "\(long.stderr) \(short.stderr)")
        let a = try #require(Self.density(long.stdout)), b = try #require(Self.density(short.stdout))
        #expect(a == b)
        // A different threshold gives a different density: the alias is not ignored.
        let other = try #require(Self.density(try NablaProcess.run(["mask", "--thr", "0.3", "--json"]).stdout))
        #expect(other < a)
        let help = try NablaProcess.run(["mask", "--help"])
        #expect(help.stdout.contains("--threshold, --thr"), "\(help.stdout)")
    }

    @Test("an option typed for its meaning suggests the option meant, where the command has it",
          arguments: [(["mask", "--threshold", "0.9", "--head", "3"], "--head-select"),
                      (["attend", "--threshold", "0.9", "--head", "3"], "--head-select"),
                      (["mask", "--threshold", "0.9", "--output", "x"], "--out"),
                      (["mask", "--threshold", "0.9", "--window", "3x3x3"], "--sta"),
                      (["mask", "--threshold", "0.9", "--block-size", "1x8x8"], "--block")])
    func meantOptions(arguments: [String], meant: String) throws {
        let r = try NablaProcess.run(arguments)
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("did you mean '\(meant)'?"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }

    @Test("a word with no meaning in the table keeps ArgumentParser's spelling suggestion")
    func spellingStill() throws {
        let r = try NablaProcess.run(["mask", "--threshold", "0.9", "--blok", "1x8x8"])
        #expect(r.status == 64 && r.stderr.contains("did you mean '--block'?"), "\(r.stderr)")
    }

    @Test("an even STA size is refused naming the axis, on every command and in mask specs",
          arguments: [["mask", "--threshold", "0.9", "--sta", "4x3x3"], ["mask", "--threshold", "0.9", "--sta", "5x3x2"],
                      ["attend", "--threshold", "0.9", "--sta", "11x4x3"], ["sweep", "--sta", "2x1x1"]])
    func evenWindowRefused(arguments: [String]) throws {
        let r = try NablaProcess.run(arguments)
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("has an even size"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(throws: NablaError.self) { try MaskSpec(parsing: "sta=4x3x3") }
        #expect(throws: NablaError.self) { try STAWindow(parsing: "3x3x6") }
        #expect(try STAWindow(parsing: "3x5x7") == STAWindow(wt: 3, wh: 5, ww: 7))
    }

    @Test("a window reaching every block of an axis is accepted and said once; a smaller one says nothing")
    func wholeAxisWindow() throws {
        // The built-in sample's block grid at 1x8x8 is 16x4x6.
        let whole = try NablaProcess.run(["mask", "--threshold", "0.9", "--sta", "99x3x3", "--json"])
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(whole.stderr == "warning: STA 99x3x3 covers every block in frames of the 16x4x6 block grid\n", "\(whole.stderr)")
        let both = try NablaProcess.run(["mask", "--threshold", "0.9", "--sta", "33x9x3", "--json"])
        #expect(both.stderr.contains("covers every block in frames and height of the 16x4x6"), "\(both.stderr)")
        let part = try NablaProcess.run(["mask", "--threshold", "0.9", "--sta", "11x3x3", "--json"])
        #expect(part.status == 0 && part.stderr.isEmpty, "\(part.stderr)")
        // 31 frames reach 15 either side, all 16: the same mask as 99, and no note.
        #expect(try NablaProcess.run(["mask", "--threshold", "0.9", "--sta", "31x3x3", "--json"]).stderr.isEmpty)
        #expect(Self.density(whole.stdout) == Self.density(try NablaProcess.run(["mask", "--threshold", "0.9", "--sta", "31x3x3", "--json"]).stdout))
    }

    @Test("bare q and k beside other pairs are the pair '_': listed so, selected by DIR:_ and FILE:_, equal to the files alone")
    func barePairName() throws {
        let dir = try Fixtures.temporaryDirectory("nabla-bare-pair")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = [2, 2, 16, 16, 8], n = shape.reduce(1, *)
        let q = (0..<n).map { Float(sin(Double($0) * 0.37)) }, k = (0..<n).map { Float(cos(Double($0) * 0.23)) }
        try NPY.write(q, shape: shape, to: dir + "/q.npy")
        try NPY.write(k, shape: shape, to: dir + "/k.npy")
        // The other pair: a ramp, so pooled logits grow with the key block and each row's
        // mass sits in the last blocks (a much sparser mask).
        let ramp = (0..<n).map { Float($0) / Float(n) * 30 }
        try NPY.write(ramp, shape: shape, to: dir + "/a.q.npy")
        try NPY.write(ramp, shape: shape, to: dir + "/a.k.npy")

        let info = try NablaProcess.run(["info", dir])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("\n             _  q ") || info.stdout.contains(" _  q "), "\(info.stdout)")
        #expect(!info.stdout.contains("''"), "\(info.stdout)")
        let infoJSON = try NablaProcess.run(["info", dir, "--json"])
        #expect(infoJSON.stdout.contains(#""name": "_""#), "\(infoJSON.stdout)")

        let folder = try NablaProcess.run(["mask", dir + ":_", "--threshold", "0.7", "--json"])
        let files = try NablaProcess.run(["mask", dir + "/q.npy", dir + "/k.npy", "--threshold", "0.7", "--json"])
        let other = try NablaProcess.run(["mask", dir + ":a", "--threshold", "0.7", "--json"])
        #expect(folder.status == 0 && files.status == 0 && other.status == 0, "\(folder.stderr) \(files.stderr) \(other.stderr)")
        #expect(Self.density(folder.stdout) == Self.density(files.stdout))
        #expect(Self.density(folder.stdout) != Self.density(other.stdout))

        // The error for a missing pair lists '_' among the pairs, and the folder alone is ambiguous.
        let missing = try NablaProcess.run(["mask", dir + ":b", "--threshold", "0.7"])
        #expect(missing.status != 0 && missing.stderr.contains("_") && !missing.stderr.contains("(q, k)"), "\(missing.stderr)")

        // One safetensors file holding q, k, a.q, a.k: FILE:_ selects the bare pair.
        let other2 = try Fixtures.temporaryDirectory("nabla-bare-pair-file")
        defer { try? FileManager.default.removeItem(atPath: other2) }
        let file = other2 + "/pairs.safetensors"
        try SafetensorsFile.write([("q", .float32, shape, q), ("k", .float32, shape, k),
                                   ("a.q", .float32, shape, k), ("a.k", .float32, shape, q)], metadata: [:], to: file)
        let inFile = try NablaProcess.run(["mask", file + ":_", "--threshold", "0.7", "--json"])
        #expect(inFile.status == 0, "\(inFile.stderr)")
        #expect(Self.density(inFile.stdout) == Self.density(files.stdout))
        let all = try NablaProcess.run(["mask", dir, "--all", "--threshold", "0.7"])
        #expect(all.status == 0 && all.stdout.contains("\n_ ") && !all.stdout.contains("(q, k)"), "\(all.stdout) \(all.stderr)")
    }
}

/// The app's loader reads `--order block` in the block the app is at (issue 16: it kept
/// the start-up `--block`, so after `B` an `:open` read block order for the old block).
@Suite("the app's :open after a block change")
struct OpenAfterBlockChangeTests {
    @Test(":open of a block-order file after B (1x8x8 to 1x4x4) reads it in 1x4x4 block order, as mask does")
    func orderFollowsBlock() throws {
        let dir = try Fixtures.temporaryDirectory("nabla-open-block")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (t, h, w, d) = (2, 16, 16, 8)
        // Raster values with structure, then stored in 1x4x4 block order.
        func raster(_ phase: Double) -> [Float] {
            (0..<(t * h * w)).flatMap { tok -> [Float] in
                let y = (tok / w) % h, x = tok % w
                return (0..<d).map { Float(sin(Double(y * (($0 % 3) + 1)) * 0.4 + Double(x) * 0.3 * Double($0 + 1) + phase)) * 3 }
            }
        }
        func blockOrder(_ r: [Float]) -> [Float] {
            var out: [Float] = []
            for bt in 0..<t { for by in 0..<(h / 4) { for bx in 0..<(w / 4) {
                for yy in 0..<4 { for xx in 0..<4 {
                    let tok = (bt * h + by * 4 + yy) * w + bx * 4 + xx
                    out += r[(tok * d)..<((tok + 1) * d)]
                } }
            } } }
            return out
        }
        try NPY.write(blockOrder(raster(0)), shape: [1, t * h * w, d], to: dir + "/q.npy")
        try NPY.write(blockOrder(raster(0.7)), shape: [1, t * h * w, d], to: dir + "/k.npy")
        let open = ":open \(dir)/q.npy \(dir)/k.npy --grid 2x16x16 --order block<Enter>"
        let r = try NablaProcess.run(["render", "--size", "120x40", "--no-color", "--keys", "B" + open])
        #expect(r.status == 0, "\(r.stderr)")
        let status = try #require(r.stdout.split(separator: "\n").last.map(String.init))
        #expect(status.contains("block 1x4x4") && status.contains("q.npy"), "\(status)")
        let mask = try NablaProcess.run(["mask", dir + "/q.npy", dir + "/k.npy", "--grid", "2x16x16", "--order", "block",
                                         "--block", "1x4x4", "--threshold", "0.9", "--json"])
        let density = try #require(FirstContactTests.density(mask.stdout))
        #expect(status.contains("density \(String(format: "%.1f", density * 100))%"), "\(status) vs \(density)")
        // Read in 1x8x8 block order instead, the map is another: the check can tell.
        let wrong = try NablaProcess.run(["mask", dir + "/q.npy", dir + "/k.npy", "--grid", "2x16x16", "--order", "block",
                                          "--block", "1x8x8", "--threshold", "0.9", "--json"])
        #expect(FirstContactTests.density(wrong.stdout) != density)
    }
}
