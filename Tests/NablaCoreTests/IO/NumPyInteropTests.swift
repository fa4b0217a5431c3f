import Foundation
import Testing
@testable import NablaCore

/// NumPy itself, where the machine has it, reads what nabla writes: the independent
/// check that `NPY.write` and `SafetensorsFile.write` produce what Python users load.
@Suite("files read back by NumPy", .enabled(if: NumPy.available || NumPy.requiredInCI,
                                             "python3 with numpy is not installed; skipping (CI=true makes this a failure)"))
struct NumPyInteropTests {
    /// In CI (`CI=true`, set by `.ci/run`) the suite is never skipped: a missing NumPy fails here.
    @Test("NumPy is available (required in CI)")
    func numpyPresent() {
        #expect(NumPy.available, "python3 -c 'import numpy' failed; .ci/run installs it")
    }

    /// Runs a Python snippet with `PATH` as its first argument and returns what it printed.
    static func python(_ code: String, _ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", code, path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("np.load reads NPY.write's float32, float64, int32 and uint8 files")
    func npy() throws {
        let dir = try TempDir()
        try NPY.write((0..<24).map { Float($0) / 4 - 2 }, shape: [2, 3, 4], to: dir.file("f.npy"))
        try NPY.write([1.5, -2.25, 1e300], shape: [3], to: dir.file("d.npy"))
        try NPY.write([Int32.min, -1, 0, 7, .max, 42], shape: [3, 2], to: dir.file("i.npy"))
        try NPY.write([UInt8](repeating: 1, count: 5) + [0], shape: [1, 2, 3], to: dir.file("u.npy"))
        let show = "import numpy as np, sys; a = np.load(sys.argv[1]); print(a.dtype, a.shape, repr(a.ravel().tolist()))"
        #expect(try Self.python(show, dir.file("f.npy")) ==
                "float32 (2, 3, 4) " + "[" + (0..<24).map { "\(Double($0) / 4 - 2)" }.joined(separator: ", ") + "]")
        #expect(try Self.python(show, dir.file("d.npy")) == "float64 (3,) [1.5, -2.25, 1e+300]")
        #expect(try Self.python(show, dir.file("i.npy")) == "int32 (3, 2) [-2147483648, -1, 0, 7, 2147483647, 42]")
        #expect(try Self.python(show, dir.file("u.npy")) == "uint8 (1, 2, 3) [1, 1, 1, 1, 1, 0]")
    }

    @Test("NumPy reads SafetensorsFile.write's header and BF16/F16/F32 data")
    func safetensors() throws {
        let dir = try TempDir()
        let values: [Float] = [1, -2, 0.5, 3.25, -0.125, 6]
        try SafetensorsFile.write([("q", .bfloat16, [2, 3], values), ("k", .float16, [3, 2], values), ("v", .float32, [6], values)],
                                  metadata: ["grid": "1x2x3", "order": "raster"], to: dir.file("qkv.safetensors"))
        // A reader written from the format's definition: 8-byte length, JSON, raw little-endian data.
        let read = """
        import json, struct, sys, numpy as np
        b = open(sys.argv[1], 'rb').read()
        n = struct.unpack('<Q', b[:8])[0]
        h = json.loads(b[8:8 + n]); data = b[8 + n:]
        out = [json.dumps(h['__metadata__'], sort_keys=True)]
        for key in ['q', 'k', 'v']:
            e = h[key]; s, t = e['data_offsets']; raw = data[s:t]
            if e['dtype'] == 'BF16':
                a = (np.frombuffer(raw, '<u2').astype('<u4') << 16).view('<f4')
            else:
                a = np.frombuffer(raw, {'F16': '<f2', 'F32': '<f4'}[e['dtype']]).astype('<f4')
            out.append(key + ' ' + e['dtype'] + ' ' + str(e['shape']) + ' ' + str(a.tolist()))
        print(chr(10).join(out))
        """
        let expected = [#"{"grid": "1x2x3", "order": "raster"}"#,
                        "q BF16 [2, 3] [1.0, -2.0, 0.5, 3.25, -0.125, 6.0]",
                        "k F16 [3, 2] [1.0, -2.0, 0.5, 3.25, -0.125, 6.0]",
                        "v F32 [6] [1.0, -2.0, 0.5, 3.25, -0.125, 6.0]"]
        #expect(try Self.python(read, dir.file("qkv.safetensors")).split(separator: "\n").map(String.init) == expected)
    }

    @Test("Python's json reads the safetensors metadata nabla writes, escapes and all")
    func metadataEscapes() throws {
        let dir = try TempDir()
        let metadata = ["format": "pt", "odd \"key\"": "line\nbreak \\ é 😀", "ctrl": "\u{01}\u{1F}\u{7F}", "slash": "a/b\t"]
        try SafetensorsFile.write([("q", .float32, [1], [1])], metadata: metadata, to: dir.file("m.safetensors"))
        let read = """
        import json, struct, sys
        b = open(sys.argv[1], 'rb').read()
        n = struct.unpack('<Q', b[:8])[0]
        print(json.dumps(json.loads(b[8:8 + n])['__metadata__'], sort_keys=True, ensure_ascii=True))
        """
        // What Python's json.dumps(..., ensure_ascii=True) prints for that dictionary, written out by hand.
        let expected = #"{"ctrl": "\u0001\u001f\u007f", "format": "pt", "odd \"key\"": "line\nbreak \\ \u00e9 \ud83d\ude00", "slash": "a/b\t"}"#
        #expect(try Self.python(read, dir.file("m.safetensors")) == expected)
    }

    @Test("Python's json reads the report JSON writer: NaN and infinities as null, escapes, exact integers")
    func reportJSON() throws {
        let dir = try TempDir()
        let value = JSON.object([
            ("nan", .number(.nan)), ("inf", .number(.infinity)), ("-inf", .number(-.infinity)),
            ("big", .int(Int.max)), ("third", .number(1.0 / 3)), ("whole", .number(2)), ("tiny", .number(Double.leastNonzeroMagnitude)),
            ("text", .string("tab\tquote\" back\\ nl\n ctrl\u{02}\u{1F} é 😀")), ("list", .array([.bool(true), .null, .int(-1)])),
        ])
        try value.rendered().write(toFile: dir.file("r.json"), atomically: true, encoding: .utf8)
        let read = """
        import json, sys
        v = json.loads(open(sys.argv[1], encoding='utf-8').read())
        print(json.dumps(v, ensure_ascii=True))
        print(repr(v['third'] == 1 / 3), repr(v['big'] == 2**63 - 1), repr(v['tiny'] == 5e-324))
        """
        let expected = #"{"nan": null, "inf": null, "-inf": null, "big": 9223372036854775807, "third": 0.3333333333333333, "whole": 2, "tiny": 5e-324, "text": "tab\tquote\" back\\ nl\n ctrl\u0002\u001f \u00e9 \ud83d\ude00", "list": [true, null, -1]}"#
            + "\nTrue True True"
        #expect(try Self.python(read, dir.file("r.json")) == expected)
    }
}

enum NumPy {
    /// Whether this is a CI run (`CI=true`), where a skipped interop test counts as a failure.
    static let requiredInCI: Bool = ProcessInfo.processInfo.environment["CI"]?.lowercased() == "true"

    /// Whether `python3 -c "import numpy"` works here.
    static let available: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import numpy"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()
}
