import ArgumentParser
import Foundation
import NablaCore

extension SweepCommand {
    /// `--method LIST`: every listed method over its own parameter range (`MethodSweep`).
    func runMethods(_ list: String) throws {
        // Options of the threshold sweep have no meaning here: refused, not ignored.
        if sta != nil { throw ValidationError("--sta goes with the threshold sweep; with --method, sweep 'sta' as a method") }
        if thresholds != "0:1:0.05" { throw ValidationError("--thresholds goes with the threshold sweep; --method sweeps each method's own range") }
        if measure != "0.5,0.9,0.99" { throw ValidationError("--measure goes with the threshold sweep, not --method") }
        if `repeat` != 1 { throw ValidationError("--repeat goes with the threshold sweep, not --method") }
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw NablaError(.badArgument, "--method '\(list)' names no method; known methods: \(SparseMethods.namesText)") }
        var types: [any SparseMethod.Type] = []
        for name in names {
            if name.lowercased() == "all" {
                types += SparseMethods.all
                continue
            }
            types.append(try SparseMethods.type(named: name))
        }
        var seen = Set<String>()
        types = types.filter { seen.insert($0.name).inserted }
        let qk = try input.spec(orderBlock: block).load()
        try refuseText(qk, command: "sweep --method")
        if error { try MaskQuality.requireValues(qk) }
        let blocks = try qk.blockGrid(block)
        try sampling.noteExact(blocks: blocks.count)
        let progress = StderrProgress(label: "sweep")
        let sweep = try MethodSweep(context: try MethodContext(input: qk, blocks: blocks), methods: types, error: error,
                                    recallSample: try sampling.request) { name, done, total in
            progress.show("\(name), setting \(done + 1) of \(total)")
        }
        progress.finish()
        print(json ? sweep.json().rendered() : sweep.text())
    }
}
