import Foundation
import NablaCore
import Testing

/// `--head-select`: a subset of heads, named by tensor index, on the mask command.
@Suite("head selection")
struct HeadSelectTests {
    @Test("parses indices and ranges, and refuses what is neither")
    func parsing() throws {
        #expect(try HeadSelection(parsing: "0,3,8-11").indices == [0, 3, 8, 9, 10, 11])
        #expect(try HeadSelection(parsing: "5,1,1").indices == [1, 5])
        #expect(try HeadSelection(parsing: "0,3,8-11").description == "0,3,8-11")
        for bad in ["", "a", "3-1", "-2", "1,,2", "1-2-3"] {
            #expect(throws: NablaError.self, "'\(bad)'") { try HeadSelection(parsing: bad) }
        }
    }

    @Test("the selected heads' masks equal those heads of the full mask, named by tensor index")
    func subsetEqualsFull() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (q, k) = try MaskCommandTests.writeQK(dir, shape: [4, 2, 16, 16, 8])
        let full = try NablaProcess.run(["mask", q, k, "--threshold", "0.7", "--out", dir + "/full"])
        #expect(full.status == 0, "\(full.stderr)")
        let part = try NablaProcess.run(["mask", q, k, "--threshold", "0.7", "--head-select", "1,3", "--out", dir + "/part", "--json"])
        #expect(part.status == 0, "\(part.stderr)")
        let all = try NPY.read(path: dir + "/full/mask.npy")
        let sub = try NPY.read(path: dir + "/part/mask.npy")
        #expect(sub.shape == [2, 8, 8])
        let a = all.int64s(), s = sub.int64s()
        #expect(Array(s[0..<64]) == Array(a[64..<128]))
        #expect(Array(s[64..<128]) == Array(a[192..<256]))
        #expect(part.stdout.contains("\"head\":1") || part.stdout.contains("\"head\": 1"))
        #expect(part.stdout.contains("\"head\":3") || part.stdout.contains("\"head\": 3"))
        #expect(!part.stdout.contains("\"head\":0") && !part.stdout.contains("\"head\": 0"))
    }

    @Test("an index out of range is one line naming the head and the count")
    func outOfRange() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (q, k) = try MaskCommandTests.writeQK(dir)
        let r = try NablaProcess.run(["mask", q, k, "--threshold", "0.7", "--head-select", "0,7"])
        MaskCommandTests.expectError(r, contains: "head 7 is out of range")
        let sample = try NablaProcess.run(["mask", "--threshold", "0.7", "--head-select", "2-3", "--json"])
        #expect(sample.status == 0, "\(sample.stderr)")
        #expect(sample.stdout.contains("\"num_heads\":2") || sample.stdout.contains("\"num_heads\": 2"))
    }
}
