import Foundation
import Testing
@testable import NablaCore

/// NumPy itself, where the machine has it, reads what nabla writes: the independent
/// check that `NPY.write` and `SafetensorsFile.write` produce what Python users load.
@Suite("files read back by NumPy", .enabled(if: NumPy.available, "python3 with numpy is not installed; skipping"))
struct NumPyInteropTests {
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
}

enum NumPy {
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
