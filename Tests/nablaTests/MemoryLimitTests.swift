import Foundation
import NablaCore
import Testing

/// Memory honesty: work whose estimate exceeds what is available is refused in one line,
/// before anything heavy runs.
@Suite("memory estimates and refusal")
struct MemoryLimitTests {
    @Test("a limit below the estimate refuses with the estimate, the limit and what would fit")
    func refuses() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 4 heads, grid 2x32x32, D 8: at block 1x4x4 N = 128; the estimate is about 0.6 MB
        // per head for `nabla mask`, and 1x8x8 (N = 32) needs far less.
        let (q, k) = try MaskCommandTests.writeQK(dir, shape: [4, 2, 32, 32, 8])
        let args = ["mask", q, k, "--threshold", "0.9", "--block", "1x4x4", "--out", dir + "/out"]
        let estimate = MaskMemory(heads: 4, n: 128, tokens: 2048, headDim: 8, converts: false, use: .maskFiles).bytes
        let limit = estimate - estimate / 4
        let r = try NablaProcess.run(args, environment: ["NABLA_MEMORY_LIMIT": String(limit)])
        MaskCommandTests.expectError(r, contains: "need about \(MaskMemory.text(estimate))")
        #expect(r.stderr.contains("allowed by NABLA_MEMORY_LIMIT"))
        #expect(r.stderr.contains("of the 4 heads"))
        #expect(r.stderr.contains("block 1x8x8"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"), "nothing is written when refused")
        // At the estimate it runs.
        let ok = try NablaProcess.run(args, environment: ["NABLA_MEMORY_LIMIT": String(estimate)])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.isEmpty, "no progress when stderr is not a terminal: \(ok.stderr)")
    }

    @Test("the heads that fit satisfy the estimate, and one more does not")
    func headsThatFit() {
        let m = MaskMemory(heads: 48, n: 2100, tokens: 80640, headDim: 128, converts: true, use: .cachedMap)
        for available in [m.bytes / 3, m.bytes / 2, m.bytes - 1] {
            let k = m.headsThatFit(available)
            let fits = MaskMemory(heads: k, n: 2100, tokens: 80640, headDim: 128, converts: true, use: .cachedMap)
            let over = MaskMemory(heads: k + 1, n: 2100, tokens: 80640, headDim: 128, converts: true, use: .cachedMap)
            #expect(fits.bytes <= available && over.bytes > available)
        }
    }

    @Test("the estimate covers the buffers the engine holds for nabla mask")
    func estimateCoversBuffers() {
        // Per head at N = 5040: mask 25.4 MB, two copies of int32 rows 203 MB, the
        // rows' file; plus one head's map 203 MB.
        let m = MaskMemory(heads: 8, n: 5040, tokens: 80640, headDim: 64, converts: false, use: .maskFiles)
        let n2 = 5040 * 5040
        #expect(m.bytes >= 8 * (n2 + 8 * n2 + n2) + 8 * n2)
        #expect(m.bytes < 8 * (n2 + 8 * n2 + n2) + 8 * n2 + 60_000_000) // pooled vectors, margins, scratch
    }
}
