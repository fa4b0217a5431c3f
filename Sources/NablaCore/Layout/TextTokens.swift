import Foundation

/// Where a joint text-video self-attention puts its text tokens in the sequence:
/// CogVideoX puts its 226 text tokens first (`start`), HunyuanVideo appends up to 256
/// after the video tokens (`end`) (issue 18, item 2).
public enum TextPlace: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case start, end
    public var description: String { rawValue }
}

/// The text tokens of a joint sequence: how many, and where (`--text-tokens N[@start|@end]`,
/// or `text_tokens` / `text_place` in a capture's safetensors `__metadata__`,
/// python/nabla_capture/_capture.py).
public struct TextTokens: Hashable, Sendable, CustomStringConvertible {
    public let count: Int
    public let place: TextPlace

    public init(count: Int, place: TextPlace = .start) {
        precondition(count >= 0, "a text token count is >= 0")
        self.count = count
        self.place = place
    }

    /// Parses `N`, `N@start` or `N@end` (N >= 0; `@start` when no place is given).
    /// - Throws: `NablaError.badArgument` naming `what` and the bad part.
    public init(parsing text: String, what: String = "--text-tokens") throws {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2, let n = Int(parts[0].trimmingCharacters(in: .whitespaces)), n >= 0 else {
            throw NablaError(.badArgument, "\(what) '\(text)' is not N[@start|@end] with N a whole number >= 0 (e.g. 226@start, 256@end)")
        }
        var place = TextPlace.start
        if parts.count == 2 {
            guard let p = TextPlace(rawValue: parts[1].lowercased()) else {
                throw NablaError(.badArgument, "\(what) '\(text)': place '\(parts[1])' is not start or end")
            }
            place = p
        }
        self.init(count: n, place: place)
    }

    /// `226@start`.
    public var description: String { "\(count)@\(place)" }

    /// The first sequence position of the text tokens in a sequence of `video` video tokens.
    public func textStart(video: Int) -> Int { place == .start ? 0 : video }
    /// The first sequence position of the video tokens.
    public var videoStart: Int { place == .start ? count : 0 }
}

/// One joint text-video sequence on the block level: the video's block grid (`BlockGrid`,
/// any edge mode) and the text tokens, which form `ceil(Nt / B)` blocks of the block's
/// token count `B` (the last one partial), placed where the text sits in the sequence.
///
/// Joint block numbering: with text at the start, text blocks `0 ..< Ntb`, then video
/// block `n` at `Ntb + n`; with text at the end, video block `n` at `n`, then the text
/// blocks at `Nvb ..< Nvb + Ntb`. The joint mask keeps every text query row and every
/// text key column; its video-to-video part is the video's own mask (the NABLA cut and
/// STA run on the video-to-video pooled map only). Shared by the commands and the app.
public struct JointSequence: Hashable, Sendable, CustomStringConvertible {
    public let video: BlockGrid
    public let text: TextTokens

    public init(video: BlockGrid, text: TextTokens) {
        self.video = video
        self.text = text
    }

    /// Text blocks, `ceil(Nt / B)`.
    public var textBlocks: Int { (text.count + video.block.tokens - 1) / video.block.tokens }
    /// Joint blocks, `Ntb + Nvb`: the side of the joint block mask.
    public var count: Int { textBlocks + video.count }
    /// Tokens of the sequence the blocks cover: `Nt + ` the video's kept tokens.
    public var tokens: Int { text.count + video.keptTokens }
    /// The joint index of text block 0.
    public var firstTextBlock: Int { text.place == .start ? 0 : video.count }
    /// The joint index of video block 0.
    public var firstVideoBlock: Int { text.place == .start ? textBlocks : 0 }

    /// Whether joint block `j` holds text tokens.
    @inlinable public func isText(_ j: Int) -> Bool {
        j >= firstTextBlock && j < firstTextBlock + textBlocks
    }

    /// The video block of joint block `j`, or `nil` for a text block.
    @inlinable public func videoBlock(_ j: Int) -> Int? {
        isText(j) ? nil : j - firstVideoBlock
    }

    /// Real tokens of joint block `j`: `B` for a text block but the last (`Nt - (Ntb-1) B`),
    /// the video block's real tokens otherwise.
    public func tokens(inBlock j: Int) -> Int {
        if let v = videoBlock(j) { return video.tokens(inBlock: v) }
        let i = j - firstTextBlock, b = video.block.tokens
        return Swift.min(b, text.count - i * b)
    }

    /// `"226@start text tokens in 4 blocks + 21x4x7 video blocks"`.
    public var description: String {
        "\(text) text tokens in \(textBlocks) block(s) + \(video) video blocks"
    }

    /// The joint block mask of `mask` (the video's, `[heads, Nvb, Nvb]`): `[heads, Nj, Nj]`
    /// uint8 in joint order, text rows and columns all kept.
    /// - Complexity: O(heads * Nj^2).
    public func jointKept(_ mask: BlockMask) -> [UInt8] {
        precondition(mask.n == video.count, "the mask must be on the video's block grid")
        let nj = count, nv = video.count, first = firstVideoBlock
        var out = [UInt8](repeating: 1, count: mask.heads * nj * nj)
        mask.kept.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for h in 0..<mask.heads {
                    for a in 0..<nv {
                        let from = (h * nv + a) * nv, to = (h * nj + first + a) * nj + first
                        for b in 0..<nv { dst[to + b] = src[from + b] }
                    }
                }
            }
        }
        return out
    }

    /// FlexAttention rows of `jointKept(mask)`: `kv_num_blocks` `[heads, Nj]` and
    /// `kv_indices` `[heads, Nj, Nj]`, each row's kept key blocks ascending, then the
    /// dropped ones ascending (as `BlockMask.kvIndices`).
    /// - Complexity: O(heads * Nj^2).
    public func kvRows(_ mask: BlockMask) -> (numBlocks: [Int32], indices: [Int32]) {
        let kept = jointKept(mask), nj = count, rows = mask.heads * nj
        var num = [Int32](repeating: 0, count: rows)
        var indices = [Int32](repeating: 0, count: rows * nj)
        for r in 0..<rows {
            var k = 0
            for b in 0..<nj where kept[r * nj + b] != 0 {
                indices[r * nj + k] = Int32(b)
                k += 1
            }
            num[r] = Int32(k)
            for b in 0..<nj where kept[r * nj + b] == 0 {
                indices[r * nj + k] = Int32(b)
                k += 1
            }
        }
        return (num, indices)
    }

    /// What the text does, in one line for reports and the app.
    public var textLine: String {
        "text \(text): \(text.count) text tokens at the \(text.place) of the sequence, \(textBlocks) text block(s) of up to \(video.block.tokens) tokens; "
            + "the cut and STA run on the video-to-video map, text rows and columns are always kept"
    }
}

extension TextTokens {
    /// The text tokens a capture's safetensors `__metadata__` names (`text_tokens` = "N",
    /// `text_place` = "start" | "end", as python/nabla_capture/_capture.py writes them);
    /// `nil` when it names none (absent or "0").
    /// - Throws: `NablaError.malformedFile` naming `path` and the field.
    init?(metadata meta: [String: String], path: String) throws {
        guard let t = meta["text_tokens"] else { return nil }
        guard let n = Int(t), n >= 0 else {
            throw NablaError(.malformedFile, "\(path): __metadata__ text_tokens '\(t)' is not a whole number >= 0")
        }
        var place = TextPlace.start
        if let p = meta["text_place"] {
            guard let parsed = TextPlace(rawValue: p) else {
                throw NablaError(.malformedFile, "\(path): __metadata__ text_place '\(p)' is not start or end")
            }
            place = parsed
        }
        guard n > 0 else { return nil }
        self.init(count: n, place: place)
    }
}
