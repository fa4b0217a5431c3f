import Foundation
import NablaCore
import Testing

/// `nabla plot`: every view as SVG that Python's XML parser reads, and PNG that Python's
/// zlib and struct decode to the expected size.
@Suite("nabla plot")
struct PlotCommandTests {
    static let dir = Fixtures.path("golden", "nabla-plus-sta")
    static var qkv: [String] { ["\(dir)/q.npy", "\(dir)/k.npy", "\(dir)/v.npy"] }

    /// Runs `python3 -c script args...`; returns its output.
    static func python(_ script: String, _ args: [String]) throws -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static let svgCheck = """
    import sys, xml.etree.ElementTree as ET
    root = ET.parse(sys.argv[1]).getroot()
    assert root.tag == '{http://www.w3.org/2000/svg}svg', root.tag
    rects = root.findall('{http://www.w3.org/2000/svg}rect')
    texts = [t.text for t in root.iter('{http://www.w3.org/2000/svg}text')]
    print(root.get('width'), root.get('height'), len(rects), '|'.join(texts))
    """


    @Test("every view as SVG parses as XML with its title; map labels its frames", arguments: ["map", "coverage", "row", "sweep", "compare", "overview"])
    func svg(view: String) throws {
        let tmp = try Fixtures.temporaryDirectory("plot")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let file = "\(tmp)/\(view).svg"
        let r = try NablaProcess.run(["plot"] + Self.qkv + ["--threshold", "0.5", "--sta", "3x1x1", "--view", view,
                                                           "--compare", "thr=0.8", "--head", "1", "--out", file])
        #expect(r.status == 0, "\(r.stderr)")
        let check = try Self.python(Self.svgCheck, [file])
        #expect(check.status == 0, "\(check.out)")
        #expect(check.out.contains("head 1") || view == "overview" || view == "sweep" && check.out.contains("head 1"))
        if view == "map" { #expect(check.out.contains("|t0|") && check.out.contains("t5") && check.out.contains("log10 P")) }
        if view == "overview" { #expect(check.out.contains("head 0:") && check.out.contains("head 1:")) }
        // The compare figure carries each mask's recall and (V given) error for the head, as nabla diff reports them.
        if view == "compare" {
            let diff = try NablaProcess.run(["diff", "thr=0.5,sta=3x1x1", "thr=0.8"] + Self.qkv + ["--recall", "--error", "--json"])
            let heads = try #require(try JSONSerialization.jsonObject(with: Data(diff.stdout.utf8)) as? [String: Any])["heads"] as? [[String: Any]]
            let h1 = try #require(heads?[1])
            let want = String(format: "recall A %.3f B %.3f  error A %.2e B %.2e", h1["recall_a"] as? Double ?? -1, h1["recall_b"] as? Double ?? -1,
                              h1["relative_l2_error_a"] as? Double ?? -1, h1["relative_l2_error_b"] as? Double ?? -1)
            #expect(check.out.contains(want), "\(want)")
        }
    }

    @Test("PNG decodes with Python's zlib and struct to the expected size", arguments: [("map", 1.0), ("sweep", 2.0)])
    func png(view: String, scale: Double) throws {
        let tmp = try Fixtures.temporaryDirectory("plot")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let file = "\(tmp)/\(view).png"
        let r = try NablaProcess.run(["plot"] + Self.qkv + ["--threshold", "0.5", "--view", view, "--scale", String(scale), "--out", file])
        #expect(r.status == 0, "\(r.stderr)")
        let check = try Self.python(try String(contentsOfFile: Fixtures.path("figures", "check_png.py"), encoding: .utf8), [file])
        #expect(check.status == 0, "\(check.out)")
        // map is 600 x 560 units, sweep 640 x 440.
        let want = view == "map" ? "\(Int(600 * scale)) \(Int(560 * scale))" : "\(Int(640 * scale)) \(Int(440 * scale))"
        #expect(check.out.hasPrefix(want + " "), "\(check.out)")
        // More than a blank canvas: many distinct byte values.
        #expect((Int(check.out.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0) > 5)
    }

    /// Q and K `[2, S, 8]` of normal noise (NumPy, seeded) for `grid`, raster order.
    static func noise(_ grid: (Int, Int, Int), in dir: String) throws -> [String] {
        let s = grid.0 * grid.1 * grid.2
        let r = try python("""
        import sys, numpy as np
        g = np.random.default_rng(7)
        q = g.standard_normal((2, \(s), 8)).astype(np.float32)
        np.save(sys.argv[1] + '/q.npy', q)
        np.save(sys.argv[1] + '/k.npy', (q + g.standard_normal(q.shape)).astype(np.float32))
        """, [dir])
        #expect(r.status == 0, "\(r.out)")
        return ["\(dir)/q.npy", "\(dir)/k.npy", "--grid", "\(grid.0)x\(grid.1)x\(grid.2)", "--order", "raster"]
    }

    @Test("large maps: N = 2304 blocks (and 240 frame slabs) give SVGs under 6 MiB that parse as XML and state their scale",
          arguments: [("map", 0), ("compare", 0), ("overview", 0), ("coverage", 1)])
    func large(view: String, input: Int) throws {
        let tmp = try Fixtures.temporaryDirectory("plot")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // 16x48x48 tokens in 1x4x4 blocks: N = 16 * 12 * 12; 240x8x8 in 1x8x8: 240 slabs.
        let (grid, block, note) = input == 0 ? ((16, 48, 48), "1x4x4", view == "overview" ? "N = 2304 blocks drawn as 96x96 cells of 24x24 blocks"
                                                                                              : "N = 2304 blocks drawn as 256x256 cells of 9x9 blocks")
                                             : ((240, 8, 8), "1x8x8", "N = 240 slabs drawn as 80x80 cells of 3x3 slabs")
        let file = "\(tmp)/\(view).svg"
        let r = try NablaProcess.run(["plot"] + (try Self.noise(grid, in: tmp)) + ["--block", block, "--threshold", "0.5", "--view", view,
                                                                                   "--compare", "thr=0.8", "--out", file])
        #expect(r.status == 0, "\(r.stderr)")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        #expect(size < 6 << 20, "\(view): \(size) bytes")
        let check = try Self.python(Self.svgCheck, [file])
        #expect(check.status == 0, "\(check.out)")
        #expect(check.out.contains(note), "\(check.out.suffix(300))")
        if view != "coverage" { #expect(r.stdout.contains(note), "\(r.stdout)") }
    }

    @Test("an SVG over the limit is refused in one line that says to write PNG")
    func svgLimit() throws {
        var figure = Figure(width: 100, height: 100)
        for i in 0..<100 { figure.add(.rect(x: Double(i), y: 0, width: 1, height: 1, fill: .red)) }
        #expect(try Figures.svgBytes(figure, name: "f.svg", limit: 1 << 20).count > 4000)
        do {
            _ = try Figures.svgBytes(figure, name: "f.svg", limit: 4000)
            Issue.record("not refused")
        } catch let error as NablaError {
            #expect(error.message.hasPrefix("f.svg: the SVG would be") && error.message.hasSuffix("write a .png instead"))
        }
    }

    @Test("bad views, extensions and heads fail in one line")
    func bad() throws {
        for args in [["--view", "nope", "--out", "/tmp/x.svg"], ["--out", "/tmp/x.gif"], ["--head", "9", "--out", "/tmp/x.svg"]] {
            let r = try NablaProcess.run(["plot"] + Self.qkv + args)
            #expect(r.status != 0 && r.stderr.hasPrefix("error: ") && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
    }
}
