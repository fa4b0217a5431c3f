import Foundation
import NablaCore
import Testing

/// Every golden case (copied from the shared reference data into Tests/Fixtures/golden)
/// and every case of nabla's own (Tests/Fixtures/cases, made by make_cases.py there) run
/// through `nabla mask` end to end: exactly the expected mask, BlockMask rows, frame
/// coverage and density. Rows whose cut lies within 1e-5 of a running sum
/// (`expected/margin.npy`) are excused, as NABLA.md allows.
@Suite("golden cases through nabla mask")
struct GoldenMaskTests {
    static let cases = [
        "golden/bf16-safetensors", "golden/block-1x4x4", "golden/cube-2x4x4", "golden/fp16-fortran-npy",
        "golden/fractal-order", "golden/nabla-plus-sta", "golden/thr-one", "golden/thr-zero", "golden/tiny-raster",
        "cases/bigendian-v2", "cases/model-shd", "cases/batch-bshd", "cases/f16-safetensors-meta",
        "cases/f64-cube-4x4x4", "cases/block-1x16x16",
    ]

    struct Case {
        var grid: [Int]
        var heads: Int
        var block: [Int]
        var threshold: Double
        var sta: [Int]?
        var order: String
        var inputs: [String: String]
        var density: Double
        var ambiguousRows: Int
        /// Layout options the case needs (--axes, --batch, ...), for nabla's own cases.
        var extraArguments: [String]

        init(directory: String) throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/case.json"))
            let obj = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            grid = try #require(obj["grid"] as? [Int])
            heads = try #require(obj["heads"] as? Int)
            block = try #require(obj["block"] as? [Int])
            threshold = try #require((obj["threshold"] as? NSNumber)?.doubleValue)
            sta = obj["sta_window"] as? [Int]
            order = try #require(obj["order"] as? String)
            inputs = try #require(obj["inputs"] as? [String: String])
            density = try #require(firstJSONNumber(named: "density", in: String(decoding: data, as: UTF8.self)))
            ambiguousRows = try #require(obj["ambiguous_rows"] as? Int)
            extraArguments = obj["extra_args"] as? [String] ?? []
        }

        /// The `nabla mask` arguments that describe this case.
        func arguments(directory: String) -> [String] {
            var args = ["mask"]
            if let qk = inputs["qk"] {
                // Safetensors cases carry their grid (and perhaps order) in __metadata__:
                // no --grid given, and no --order when the metadata has it.
                args += ["\(directory)/\(qk):\(inputs["q_key"]!)", "\(directory)/\(qk):\(inputs["k_key"]!)"]
                if order == "block" && inputs["metadata"] == nil { args += ["--order", "block"] }
            } else {
                args += ["\(directory)/\(inputs["q"]!)", "\(directory)/\(inputs["k"]!)"]
                if order == "block" && extraArguments.isEmpty {
                    args += ["--grid", grid.map(String.init).joined(separator: "x"), "--order", "block"]
                }
            }
            args += extraArguments
            args += ["--block", block.map(String.init).joined(separator: "x"), "--threshold", "\(threshold)"]
            if let sta { args += ["--sta", sta.map(String.init).joined(separator: "x")] }
            return args
        }
    }

    /// Every case runs with every kernel level this machine runs (`NABLA_CPU`).
    @Test("matches the reference, with every kernel level", arguments: cases, KernelVariant.supported.map(\.name))
    func goldenCase(name: String, kernels: String) throws {
        let dir = Fixtures.path(name)
        let spec = try Case(directory: dir)
        let out = try Fixtures.temporaryDirectory("golden-\(name.replacingOccurrences(of: "/", with: "-"))-\(kernels)")
        defer { try? FileManager.default.removeItem(atPath: out) }

        let result = try NablaProcess.run(spec.arguments(directory: dir) + ["--out", out, "--json"],
                                          environment: ["NABLA_CPU": kernels])
        #expect(result.status == 0, "nabla mask failed: \(result.stderr)")
        #expect(result.stderr.isEmpty)

        let n = (spec.grid[0] / spec.block[0]) * (spec.grid[1] / spec.block[1]) * (spec.grid[2] / spec.block[2])
        let tb = spec.grid[0] / spec.block[0]
        let h = spec.heads

        let mask = try NPY.read(path: out + "/mask.npy")
        #expect(mask.dtype == .uint8 && mask.shape == [h, n, n])
        let num = try NPY.read(path: out + "/kv_num_blocks.npy")
        #expect(num.dtype == .int32 && num.shape == [h, n])
        let idx = try NPY.read(path: out + "/kv_indices.npy")
        #expect(idx.dtype == .int32 && idx.shape == [h, n, n])
        let cov = try NPY.read(path: out + "/frame_coverage.npy")
        #expect(cov.dtype == .float32 && cov.shape == [h, tb, tb])

        let expMask = try NPY.read(path: dir + "/expected/mask.npy").int64s()
        let expNum = try NPY.read(path: dir + "/expected/kv_num_blocks.npy").int64s()
        let expIdx = try NPY.read(path: dir + "/expected/kv_indices.npy").int64s()
        let expCov = try NPY.read(path: dir + "/expected/frame_coverage.npy").doubles()
        let margin = try NPY.read(path: dir + "/expected/margin.npy").doubles()

        let gotMask = mask.int64s(), gotNum = num.int64s(), gotIdx = idx.int64s(), gotCov = cov.doubles()
        var differing = 0
        for row in 0..<(h * n) {
            let range = (row * n)..<((row + 1) * n)
            let same = gotMask[range] == expMask[range] && gotNum[row] == expNum[row] && gotIdx[range] == expIdx[range]
            if !same {
                differing += 1
                #expect(margin[row] < BlockMask.ambiguousMargin,
                        "\(name): row \(row % n) of head \(row / n) differs with margin \(margin[row])")
            }
        }
        #expect(differing <= spec.ambiguousRows)

        // The outputs agree with each other: coverage and density follow from the mask.
        let naiveCoverage = Self.frameCoverage(mask: gotMask, heads: h, n: n, slabs: tb)
        #expect(gotCov == naiveCoverage.map { Double(Float($0)) })
        let density = try #require(firstJSONNumber(named: "density", in: result.stdout))
        #expect(density == Double(gotMask.reduce(0, +)) / Double(h * n * n))

        if differing == 0 {
            #expect(gotCov == expCov.map { Double(Float($0)) })
            #expect(density == spec.density)
        }
    }

    @Test("every case folder in the fixtures is in the list above")
    func everyFixtureListed() throws {
        var found: [String] = []
        for group in ["golden", "cases"] {
            let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path(group))
            found += names.filter { FileManager.default.fileExists(atPath: Fixtures.path("\(group)/\($0)/case.json")) }
                .map { "\(group)/\($0)" }
        }
        #expect(found.count >= 15)
        #expect(Set(found) == Set(Self.cases), "unlisted: \(Set(found).subtracting(Self.cases).sorted())")
        #expect(Set(Self.cases).count == Self.cases.count)
    }

    /// The golden cases whose reference stored its pooled map (`expected/probs.npy`).
    static let casesWithProbabilities = cases.filter {
        FileManager.default.fileExists(atPath: Fixtures.path($0) + "/expected/probs.npy")
    }

    /// Both the reference and nabla pool and take the softmax in float64, summing in different
    /// orders: a few thousand terms give rounding of order 1e-13 at most (measured: 1.4e-15).
    static let probabilityTolerance = 1e-12

    @Test("the pooled map matches the reference's probs.npy", arguments: casesWithProbabilities)
    func pooledMap(name: String) throws {
        let dir = Fixtures.path(name)
        let spec = try Case(directory: dir)
        let block = BlockShape(bt: spec.block[0], bh: spec.block[1], bw: spec.block[2])
        let source: InputSpec.Source
        var layout = LayoutOptions(orderBlock: block)
        if let qk = spec.inputs["qk"] {
            source = .tensors(q: TensorSource(path: "\(dir)/\(qk)", key: spec.inputs["q_key"]),
                              k: TensorSource(path: "\(dir)/\(qk)", key: spec.inputs["k_key"]), v: nil)
            if spec.order == "block" && spec.inputs["metadata"] == nil { layout.order = .block }
        } else {
            source = .tensors(q: TensorSource(path: "\(dir)/\(spec.inputs["q"]!)"),
                              k: TensorSource(path: "\(dir)/\(spec.inputs["k"]!)"), v: nil)
            if spec.order == "block" {
                layout.grid = TokenGrid(t: spec.grid[0], h: spec.grid[1], w: spec.grid[2])
                layout.order = .block
            }
        }
        let input = try InputSpec(source: source, layout: layout).load()
        let map = try #require(try PooledMap.compute(input, block: block))
        let expected = try NPY.read(path: dir + "/expected/probs.npy")
        #expect(expected.shape == [spec.heads, map.n, map.n])
        let reference = expected.doubles()
        #expect(reference.count == map.probs.count)
        let worst = zip(map.probs, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= Self.probabilityTolerance, "\(name): largest difference \(worst)")
    }

    /// Naive frame coverage written for the test: mean of the mask over slab pairs.
    static func frameCoverage(mask: [Int64], heads: Int, n: Int, slabs: Int) -> [Double] {
        let per = n / slabs
        var out = [Double](repeating: 0, count: heads * slabs * slabs)
        for h in 0..<heads {
            for a in 0..<n {
                for b in 0..<n where mask[(h * n + a) * n + b] != 0 {
                    out[(h * slabs + a / per) * slabs + b / per] += 1
                }
            }
        }
        return out.map { $0 / Double(per * per) }
    }
}

/// The first number stored under `"name":` in JSON text, parsed with `Double(String)`:
/// Foundation's JSON parser on Linux may round the last digit of a double.
func firstJSONNumber(named name: String, in text: String) -> Double? {
    guard let range = text.range(of: "\"\(name)\":") else { return nil }
    let rest = text[range.upperBound...].drop { $0 == " " }
    return Double(String(rest.prefix { "0123456789.eE+-".contains($0) }))
}
