import NablaCore

/// Refuses an input with joint text tokens in a command that does not handle them yet
/// (issue 18, item 2: `nabla mask`, `info` and `view` do), so that `--text-tokens` or a
/// capture's `text_tokens` is never accepted and ignored.
/// - Throws: `NablaError.badArgument` naming the input, its text tokens and the command.
func refuseText(_ input: QKInput, command: String) throws {
    guard let text = input.text else { return }
    throw NablaError(.badArgument, "\(input.name): text tokens \(text.tokens) (--text-tokens or __metadata__ text_tokens): nabla \(command) does not handle joint text tokens yet; nabla mask, info and view do")
}
