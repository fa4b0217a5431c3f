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
        // 4 heads, grid 2x64x64, D 8: at block 1x4x4 N = 512, where one head's map
        // (2.4 MB) and the rows' chunk (4 MB) outweigh the inputs as read (2 x 1 MB);
        // 1x8x8 (N = 128) needs far less. The one-pass pooling holds no input, only a
        // slab per core: here one head's rows, 8192 x 8 float32.
        let (q, k) = try MaskCommandTests.writeQK(dir, shape: [4, 2, 64, 64, 8])
        let args = ["mask", q, k, "--threshold", "0.9", "--block", "1x4x4", "--out", dir + "/out"]
        let estimate = MaskMemory(heads: 4, n: 512, tokens: 8192, headDim: 8, converts: false, use: .maskFiles,
                                  inputBytes: ProcessInfo.processInfo.activeProcessorCount * 8192 * 8 * 4).bytes
        let limit = estimate - estimate / 4
        let r = try NablaProcess.run(args, environment: ["NABLA_MEMORY_LIMIT": String(limit)])
        MaskCommandTests.expectError(r, contains: "need about \(MaskMemory.text(estimate))")
        #expect(r.stderr.contains("allowed by NABLA_MEMORY_LIMIT"))
        #expect(r.stderr.contains("would fit: block 1x8x8"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"), "nothing is written when refused")
        // At the estimate it runs.
        let ok = try NablaProcess.run(args, environment: ["NABLA_MEMORY_LIMIT": String(estimate)])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.isEmpty, "no progress when stderr is not a terminal: \(ok.stderr)")
    }

    @Test("attend refuses above NABLA_MEMORY_LIMIT in the same words, with the heads that fit")
    func attentionRefuses() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (q, k) = try MaskCommandTests.writeQK(dir, shape: [2, 2, 16, 16, 8])
        try NPY.write((0..<(2 * 512 * 8)).map { Float($0 % 7) / 7 }, shape: [2, 2, 16, 16, 8], to: dir + "/v.npy")
        let blocks = try BlockGrid(grid: TokenGrid(t: 2, h: 16, w: 16), block: .nabla)
        let two = AttentionOperands.estimatedBytes(heads: 2, blocks: blocks, headDim: 8, values: true)
        let one = AttentionOperands.estimatedBytes(heads: 1, blocks: blocks, headDim: 8, values: true)
        let args = ["attend", q, k, dir + "/v.npy", "--threshold", "0.9"]
        let r = try NablaProcess.run(args, environment: ["NABLA_MEMORY_LIMIT": String(two - 1)])
        MaskCommandTests.expectError(r, contains: "attention on 2 head(s) of 512 tokens, head dim 8 needs about \(MaskMemory.text(two)) but \(MaskMemory.text(two - 1)) is allowed by NABLA_MEMORY_LIMIT; would fit: 1 of the 2 heads (a head selection such as 0)")
        #expect(one <= two - 1)
        let ok = try NablaProcess.run(args, environment: ["NABLA_MEMORY_LIMIT": String(two)])
        #expect(ok.status == 0, "\(ok.stderr)")
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
        // At N = 5040, 8 heads: the inputs as read (2 x 165 MB), per head the mask
        // (25.4 MB), one head's map and its cut (203 + 25.4 MB), FlexAttention rows only as an 8 MB chunk
        // (streamed; 813 MB if they were whole). Measured peak RSS of this run (issue 8's
        // N = 5040 row): 791 MiB, of which about 30 MB is the process before any work.
        let input = 2 * 8 * 80640 * 64 * 4
        let m = MaskMemory(heads: 8, n: 5040, tokens: 80640, headDim: 64, converts: false, use: .maskFiles, inputBytes: input)
        let n2 = 5040 * 5040
        let buffers = input + 8 * n2 + 9 * n2 + (8 << 20)
        #expect(m.bytes >= buffers)
        #expect(m.bytes < buffers + 60_000_000) // pooled vectors, margins, scratch
        #expect(m.bytes + (30 << 20) >= 791 << 20, "with the process, at least the measured peak")
        #expect(m.bytes < 1_500_000_000, "the issue's target peak for this row")
    }
}
