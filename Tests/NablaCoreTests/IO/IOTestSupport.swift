import Foundation
import Testing
@testable import NablaCore

/// Paths of the files under `Tests/Fixtures/io` (made by `make_fixtures.py`).
enum Fixture {
    static let root: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // IO
        .deletingLastPathComponent() // NablaCoreTests
        .deletingLastPathComponent() // Tests
        .appendingPathComponent("Fixtures/io").path

    static func npy(_ name: String) -> String { "\(root)/npy/\(name)" }
    static func st(_ name: String) -> String { "\(root)/st/\(name)" }
    static func bad(_ name: String) -> String { "\(root)/bad/\(name)" }

    static func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// A fresh directory under the system temporary directory, removed in `deinit`.
final class TempDir {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("nabla-io-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Owns a heap copy of some bytes, to stand in for a `MappedFile` in decoder tests.
final class ByteBox {
    let buffer: UnsafeMutableRawBufferPointer

    init(_ bytes: [UInt8]) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        self.buffer = buffer
        count = bytes.count
    }

    let count: Int
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[0..<count]) }

    deinit { buffer.deallocate() }
}

/// Runs `body`, which must throw a `NablaError` with `code` whose one-line message
/// contains every string in `parts`.
@discardableResult
func expectNablaError(_ code: NablaError.Code, _ parts: [String],
                      sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Any) -> NablaError? {
    do {
        let value = try body()
        Issue.record("expected NablaError.\(code) containing \(parts), got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as NablaError {
        #expect(error.code == code, "message: \(error.message)", sourceLocation: sourceLocation)
        for part in parts {
            #expect(error.message.contains(part), "message: \(error.message)", sourceLocation: sourceLocation)
        }
        #expect(!error.message.contains("\n"), "message is not one line: \(error.message)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected NablaError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A tensor over in-memory bytes.
func makeTensor(_ bytes: [UInt8], dtype: DType, shape: [Int], byteOrder: ByteOrder = .little,
                fortranOrder: Bool = false) -> RawTensor {
    let box = ByteBox(bytes)
    return RawTensor(name: "mem", dtype: dtype, shape: shape, byteOrder: byteOrder,
                     fortranOrder: fortranOrder, bytes: box.bytes, owner: box)
}

/// Little-endian bytes of float32 values.
func leBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

