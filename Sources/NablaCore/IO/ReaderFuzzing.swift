#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Entry points for the fuzz targets (`Fuzz/`, libFuzzer) and their corpus replay
/// (`FuzzCorpusTests`): one per reader, each running the real reader on the given bytes
/// the way `nabla info` and `nabla mask` do (open, list, read every tensor that is
/// small enough).
///
/// A `NablaError` is the expected answer to a bad input and is returned, not thrown
/// (the targets ignore it); any other error, and any broken invariant (a message that
/// does not name the input, a tensor whose bytes disagree with its shape, two pairs
/// given one folder), stops the process with `fatalError`, which libFuzzer reports as
/// a crash as it reports traps, hangs (`-timeout`) and large allocations
/// (`-rss_limit_mb`, `-malloc_limit_mb`). docs/fuzzing.md lists the targets.
@_spi(Fuzzing) public enum ReaderFuzzing {
    /// The targets, as `Fuzz/run.sh` and `Fuzz/Corpus/` name them.
    public static let targets = ["npy", "safetensors", "pickle", "zip", "dumpnames"]

    /// Tensors larger than this are listed but not read (reading them is correct, but
    /// would make a fuzz run measure memory instead of finding faults).
    public static let maxReadBytes = 64 << 20

    /// Runs target `name` on `bytes`.
    /// - Returns: `nil` when the reader accepted the input, else the error it gave.
    @discardableResult
    public static func run(_ name: String, _ bytes: UnsafeRawBufferPointer) -> NablaError? {
        switch name {
        case "npy": npy(bytes)
        case "safetensors": safetensors(bytes)
        case "pickle": pickle(bytes)
        case "zip": zip(bytes)
        case "dumpnames": dumpNames(bytes)
        default: fatalError("no fuzz target '\(name)' (targets: \(targets.joined(separator: ", ")))")
        }
    }

    /// Sets the memory nabla may use for one tensor to 256 MiB (unless
    /// `NABLA_MEMORY_LIMIT` is set), so that a file describing a huge tensor is refused
    /// by the check the readers make (`tooLarge`) rather than by the fuzzer's limit.
    public static func setUp() {
        setenv("NABLA_MEMORY_LIMIT", "256M", 0)
    }

    // MARK: - Targets

    /// A `.npy` file held in memory, opened as `nabla` opens one (`TensorFile`).
    @discardableResult
    public static func npy(_ bytes: UnsafeRawBufferPointer) -> NablaError? {
        inMemory(bytes, name: "fuzz.npy")
    }

    /// A `.safetensors` file held in memory.
    @discardableResult
    public static func safetensors(_ bytes: UnsafeRawBufferPointer) -> NablaError? {
        inMemory(bytes, name: "fuzz.safetensors")
    }

    /// A `torch.save` pickle (`NAME/data.pkl`): read by `PickleReader`, its tensors named
    /// (`TorchArchive.collect`) and each view checked against its storage, as opening a
    /// `.pt` file does (a whole `.pt` would fail its CRC-32 check on nearly every
    /// mutation of the pickle, so the pickle is fuzzed alone).
    @discardableResult
    public static func pickle(_ bytes: UnsafeRawBufferPointer) -> NablaError? {
        let name = "fuzz.pt:archive/data.pkl"
        return expectNablaError(names: ["fuzz.pt"]) {
            let found = try PickleReader.read(bytes, name: name) { root in try TorchArchive.collect(root, path: "fuzz.pt") }
            for (key, ref) in found {
                let span = try TorchArchive.checkBounds(ref, name: "fuzz.pt:\(TensorIO.shown(key))")
                if let span { check(span.lowerBound >= 0 && span.upperBound <= ref.storage.count, "view span \(span) outside its storage of \(ref.storage.count)") }
            }
        }
    }

    /// A ZIP archive (`torch.save` file or `.npz`): written to a temporary file, since
    /// ZIPFoundation reads archives from a path, then opened and read as `nabla` does.
    @discardableResult
    public static func zip(_ bytes: UnsafeRawBufferPointer) -> NablaError? {
        let path = scratchFile()
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { fatalError("cannot write \(path)") }
        defer { unlink(path) }
        return expectNablaError(names: [path]) {
            try readAll(TensorFile.open(path: path))
        }
    }

    /// The file names of a folder dump, one per line, each optionally followed by the
    /// keys the file holds (tab-separated; a line without a tab is a file holding one
    /// tensor, as a `.npy`): paired into Q/K pairs as `ModelDump` pairs a folder's files,
    /// and each pair given its output folder name. Invariants: a refused set of names
    /// is refused for a clash; an accepted one gives every pair its own folder name,
    /// which is a single path component other than `model.json` and decodes back to the
    /// pair's name.
    @discardableResult
    public static func dumpNames(_ bytes: UnsafeRawBufferPointer) -> NablaError? {
        let text = String(decoding: bytes, as: UTF8.self)
        var files: [String] = []
        var keysOf: [String: [String]] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let file = parts[0]
            // A folder's entries: distinct single path components.
            guard !file.isEmpty, !file.contains("/"), !file.contains("\0"), file != ".", file != "..",
                  !files.contains(file) else { continue }
            files.append(file)
            if parts.count > 1 { keysOf["dump/" + file] = Array(parts.dropFirst()) }
        }
        let names = ModelDump.names(inFolder: "dump", entries: files) { keysOf[$0] }
        return expectNablaError(names: ["dump", "cannot write out"]) {
            try ModelDump.checkUnique(names, in: "dump")
            let pairs = ModelDump.pairs(in: names)
            _ = ModelDump.unpaired(in: names)
            let prefixes = pairs.map(\.prefix)
            check(Set(prefixes).count == prefixes.count, "two pairs share a name after checkUnique: \(prefixes)")
            for p in pairs {
                // Its q and k are tensors named as q and k of this pair (`q`, `.q`, `P.q`).
                func named(_ letter: String, _ source: TensorSource) -> Bool {
                    names.contains { ModelDump.Member($0.0) == ModelDump.Member(prefix: p.prefix, letter: letter) && $0.1 == source }
                }
                check(named("q", p.q) && named("k", p.k) && (p.v.map { named("v", $0) } ?? true),
                      "pair '\(p.prefix)' made of tensors not named as its members")
            }
            for prefix in prefixes {
                let dir = ModelDump.directoryName(prefix)
                check(!dir.isEmpty && !dir.contains("/") && dir != "." && dir != ".." && !dir.contains("\0"),
                      "pair '\(prefix)' gets folder name '\(dir)', not one path component")
                check(dir.lowercased() != ModelReport.summaryName, "pair '\(prefix)' gets the summary's name '\(dir)'")
                check(decodeDirectoryName(dir) == prefix, "folder name '\(dir)' does not decode back to '\(prefix)'")
            }
            let folders = try ModelDump.folderNames(of: prefixes, in: "out", nameMax: 255)
            check(Set(folders).count == folders.count, "two pairs given one folder: \(folders)")
        }
    }

    // MARK: - Helpers

    /// The inverse of `ModelDump.directoryName`: `%XX` to its byte, `_` alone to `""`.
    static func decodeDirectoryName(_ name: String) -> String? {
        if name == "_" { return "" }
        var bytes: [UInt8] = []
        var it = Array(name.utf8)[...]
        while let b = it.popFirst() {
            guard b == UInt8(ascii: "%") else { bytes.append(b); continue }
            guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            bytes.append(v)
            it = it.dropFirst(2)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Opens `bytes` in memory as the file `name` and reads it.
    private static func inMemory(_ bytes: UnsafeRawBufferPointer, name: String) -> NablaError? {
        // A copy the reader owns, as `FileBytes` gives it (the caller's buffer may go).
        let owned = OwnedBytes(count: bytes.count) { $0.copyMemory(from: bytes) }
        let source = MemoryBytes(owned.bytes, path: name, owner: owned)
        return expectNablaError(names: [name]) {
            try readAll(TensorFile.open(source))
        }
    }

    /// Lists every tensor of `file` and reads those up to `maxReadBytes`, touching every
    /// element.
    private static func readAll(_ file: TensorFile) throws {
        let listing = file.listing
        for item in listing {
            guard item.dtype != nil else { continue }
            let planned = try file.planned(item.key)
            check(planned.shape == item.shape, "\(file.path): planned shape \(planned.shape) differs from the listing's \(item.shape)")
            guard let bytes = TensorIO.checkedSizes(shape: planned.shape, itemSize: planned.dtype.size)?.bytes,
                  bytes <= maxReadBytes else { continue }
            let t = try planned.load()
            check(t.shape == planned.shape && t.dtype == planned.dtype, "\(file.path): loaded \(t.shape) \(t.dtype), planned \(planned.shape) \(planned.dtype)")
            check(t.bytes.count == t.count * t.dtype.size, "\(file.path): \(t.bytes.count) bytes for \(t.count) elements of \(t.dtype)")
            _ = t.doubles()
        }
    }

    /// Runs `body`; returns the `NablaError` it throws, after checking that its message
    /// is one line starting with one of `prefixes` (naming the input). Any other error
    /// is a finding.
    private static func expectNablaError(names prefixes: [String], _ body: () throws -> Void) -> NablaError? {
        do {
            try body()
            return nil
        } catch let error as NablaError {
            check(prefixes.contains { error.message.hasPrefix($0) }, "message does not name the input (\(prefixes[0])): \(error.message)")
            check(!error.message.contains("\n"), "message of several lines: \(error.message)")
            return error
        } catch {
            fatalError("not a NablaError: \(error)")
        }
    }

    private static func check(_ condition: @autoclosure () -> Bool, _ what: @autoclosure () -> String) {
        if !condition() { fatalError("fuzz invariant: \(what())") }
    }

    /// A new file name to write an input to: in `/dev/shm` when it exists (memory),
    /// else in the temporary folder; unique per call (the replay test runs in parallel).
    private static func scratchFile() -> String {
        let dir = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return (dir as NSString).appendingPathComponent("nabla-fuzz-\(getpid())-\(UUID().uuidString).zip")
    }
}
