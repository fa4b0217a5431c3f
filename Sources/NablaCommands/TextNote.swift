import NablaCore

/// Refuses an input with joint text tokens in a command that does not handle them yet
/// (issue 18, item 2: `nabla mask`, `info`, `view`, `attend`, `diff`, `sweep` and `bench`
/// do; `plot` and `sweep --method` do not), so that `--text-tokens` or a capture's `text_tokens` is
/// never accepted and ignored.
/// - Throws: `NablaError.badArgument` naming the input, its text tokens and the command.
func refuseText(_ input: QKInput, command: String) throws {
    guard let text = input.text else { return }
    throw NablaError(.badArgument, "\(input.name): text tokens \(text.tokens) (--text-tokens or __metadata__ text_tokens): nabla \(command) does not handle joint text tokens yet; nabla mask, attend, diff, sweep, bench, info and view do")
}

/// Says on stderr, once per run, what a command whose report has no text line does with
/// joint text tokens (`JointSequence.textLine`, and that recall and the output error cover
/// the whole sequence while density is the video-to-video mask's).
func noteText(_ input: QKInput, block: BlockShape) {
    guard let text = input.text, let blocks = try? input.blockGrid(block) else { return }
    let joint = JointSequence(video: blocks, text: text.tokens)
    warn(joint.textLine + "; density is the video-to-video mask's, recall and the output error cover every token (text keys count as kept)")
}
