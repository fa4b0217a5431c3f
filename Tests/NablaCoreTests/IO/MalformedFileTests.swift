import Foundation
import Testing
@testable import NablaCore

/// A broken fixture under `bad/` and how the reader must refuse it.
struct BadFile: Sendable, CustomTestStringConvertible {
    var name: String
    var code: NablaError.Code
    var message: String

    init(_ name: String, _ code: NablaError.Code, _ message: String) {
        self.name = name
        self.code = code
        self.message = message
    }

    var testDescription: String { name }
}

@Suite("Malformed files")
struct MalformedFileTests {
    static let npy: [BadFile] = [
        BadFile("npy_empty.npy", .malformedFile, "empty file (0 bytes)"),
        BadFile("npy_bad_magic.npy", .malformedFile, "not a .npy file: starts with 93 4E 55 4D 50 58"),
        BadFile("npy_truncated_magic.npy", .malformedFile, "truncated .npy file: 4 bytes"),
        BadFile("npy_no_length.npy", .malformedFile, "too short for the version 1.0 header length field"),
        BadFile("npy_version4.npy", .unsupported, "unsupported .npy format version 4.0"),
        BadFile("npy_header_past_eof.npy", .malformedFile, "header length 1000 runs past the end of the file"),
        BadFile("npy_header_too_long.npy", .malformedFile, "header length 2147483647 exceeds the 1048576-byte limit"),
        BadFile("npy_not_dict.npy", .malformedFile, "header is not a dict but a list"),
        BadFile("npy_unterminated_string.npy", .malformedFile, "unterminated string at character 10"),
        BadFile("npy_junk_after_dict.npy", .malformedFile, "unexpected 'x' after the end of the literal"),
        BadFile("npy_deep_nesting.npy", .malformedFile, "nesting deeper than 32 levels"),
        BadFile("npy_descr_complex.npy", .unsupported, "dtype descr '<c8' is not supported"),
        BadFile("npy_descr_structured.npy", .unsupported, "structured dtype"),
        BadFile("npy_descr_not_string.npy", .malformedFile, "descr is an int, not a string"),
        BadFile("npy_negative_dim.npy", .malformedFile, "shape[1] = -3 is negative"),
        BadFile("npy_missing_shape.npy", .malformedFile, "lacks required key 'shape'"),
        BadFile("npy_unknown_key.npy", .malformedFile, "unexpected key 'extra'"),
        BadFile("npy_duplicate_key.npy", .malformedFile, "duplicate key 'shape'"),
        BadFile("npy_fortran_not_bool.npy", .malformedFile, "fortran_order is an int, not True or False"),
        BadFile("npy_shape_list.npy", .malformedFile, "shape is a list, not a tuple"),
        BadFile("npy_shape_float.npy", .malformedFile, "expected ',' or ')' but found '.'"),
        BadFile("npy_dim_too_large.npy", .malformedFile, "shape[0] = 123456789012345678901234567890 is too large"),
        BadFile("npy_data_truncated.npy", .malformedFile, "data truncated: shape (4,) of float32 needs 16 bytes after the header, file has 12"),
        BadFile("npy_trailing_bytes.npy", .malformedFile, "4 trailing bytes after the data"),
        BadFile("npy_count_overflow.npy", .malformedFile, "shape (1099511627776, 1099511627776) of float32 is too large"),
        BadFile("npy_bytes_overflow.npy", .malformedFile, "shape (4611686018427387904,) of float64 is too large"),
        BadFile("npy_v3_bad_utf8.npy", .malformedFile, "header is not valid UTF-8"),
    ]

    static let safetensors: [BadFile] = [
        BadFile("st_empty.safetensors", .malformedFile, "empty file (0 bytes)"),
        BadFile("st_short.safetensors", .malformedFile, "truncated .safetensors file: 5 bytes"),
        BadFile("st_header_past_eof.safetensors", .malformedFile, "header length 1000 runs past the end of the file"),
        BadFile("st_header_too_long.safetensors", .malformedFile, "header length 4611686018427387904 exceeds"),
        BadFile("st_not_json.safetensors", .malformedFile, "header is not valid JSON: expected a JSON value but found 'h' at byte 0"),
        BadFile("st_not_object.safetensors", .malformedFile, "header is an array, not a JSON object"),
        BadFile("st_truncated_json.safetensors", .malformedFile, "header is not valid JSON: expected a JSON value but found end of header"),
        BadFile("st_bad_utf8.safetensors", .malformedFile, "string is not valid UTF-8"),
        BadFile("st_duplicate_key.safetensors", .malformedFile, "duplicate key \"a\""),
        BadFile("st_entry_not_object.safetensors", .malformedFile, "tensor 'a': entry is an array, not an object"),
        BadFile("st_missing_offsets.safetensors", .malformedFile, "tensor 'a': missing \"data_offsets\""),
        BadFile("st_dtype_not_string.safetensors", .malformedFile, "tensor 'a': dtype is a number, not a string"),
        BadFile("st_unknown_dtype.safetensors", .unsupported, "st_unknown_dtype.safetensors:a has dtype F8_E4M3, which nabla does not read"),
        BadFile("st_negative_dim.safetensors", .malformedFile, "tensor 'a': shape[0] = -1 is negative"),
        BadFile("st_shape_overflow.safetensors", .malformedFile, "shape [1099511627776, 1099511627776] of F32 is too large"),
        BadFile("st_offsets_float.safetensors", .malformedFile, "data_offsets[1] is 8.0, not an integer"),
        BadFile("st_offsets_three.safetensors", .malformedFile, "data_offsets has 3 entries"),
        BadFile("st_length_mismatch.safetensors", .malformedFile, "data_offsets [0, 20] span 20 bytes, but shape [2, 3] of F32 needs 24"),
        BadFile("st_past_eof.safetensors", .malformedFile, "data_offsets [0, 24] run past the end of the file"),
        BadFile("st_offsets_not_zero.safetensors", .malformedFile, "data_offsets do not start at 0: the first tensor 'a' starts at 8"),
        BadFile("st_gap.safetensors", .malformedFile, "gap in the data section: bytes 8..<12"),
        BadFile("st_overlap.safetensors", .malformedFile, "tensors overlap: 'b' [8, 24] starts inside 'a' [0, 16]"),
        BadFile("st_end_short.safetensors", .malformedFile, "4 trailing bytes"),
        BadFile("st_metadata_not_string.safetensors", .malformedFile, "__metadata__ value for 'a' is a number, not a string"),
        BadFile("st_metadata_not_object.safetensors", .malformedFile, "__metadata__ is a string, not an object"),
        BadFile("st_deep_nesting.safetensors", .malformedFile, "nesting deeper than 64 levels"),
    ]

    @Test(arguments: npy)
    func npyRefused(_ bad: BadFile) {
        let path = Fixture.bad(bad.name)
        expectNablaError(bad.code, [bad.message, path]) { try NPY.read(path: path) }
        // TensorSource picks the NPY reader by extension and reports the same problem.
        expectNablaError(bad.code, [bad.message, path]) { try TensorSource(parsing: path).load() }
    }

    @Test(arguments: safetensors)
    func safetensorsRefused(_ bad: BadFile) throws {
        let path = Fixture.bad(bad.name)
        if bad.code == .unsupported {
            // A dtype nabla does not read is listed and refused only when chosen.
            #expect(try SafetensorsFile.open(path: path).entries.map(\.dtype) == [nil])
        } else {
            expectNablaError(bad.code, [bad.message, path]) { try SafetensorsFile.open(path: path) }
        }
        expectNablaError(bad.code, [bad.message, path]) { try TensorSource(parsing: path).load() }
    }

    /// Every file in bad/ has a case above, so new fixtures are not silently skipped.
    @Test func everyBadFixtureIsCovered() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(Fixture.root)/bad")
        #expect(Set(names) == Set((Self.npy + Self.safetensors).map(\.name)))
    }

    @Test func missingFile() {
        let path = "\(Fixture.root)/npy/does-not-exist.npy"
        expectNablaError(.fileUnreadable, [path, "cannot open", "No such file"]) { try NPY.read(path: path) }
        let st = "\(Fixture.root)/st/does-not-exist.safetensors"
        expectNablaError(.fileUnreadable, [st, "cannot open"]) { try SafetensorsFile.open(path: st) }
    }

    @Test func directory() {
        let path = "\(Fixture.root)/npy"
        expectNablaError(.fileUnreadable, [path, "not a regular file"]) { try NPY.read(path: path) }
        expectNablaError(.fileUnreadable, [path, "not a regular file"]) { try SafetensorsFile.open(path: path) }
        expectNablaError(.fileUnreadable, [path, "not a regular file"]) { try TensorSource(parsing: path).load() }
    }

    /// A FIFO must be refused, not block waiting for a writer.
    @Test func fifoDoesNotHang() throws {
        let dir = try TempDir()
        let path = dir.file("pipe.npy")
        try #require(mkfifo(path, 0o600) == 0)
        expectNablaError(.fileUnreadable, [path, "not a regular file"]) { try NPY.read(path: path) }
    }
}
