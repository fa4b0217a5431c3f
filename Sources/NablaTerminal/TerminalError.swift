/// Why the terminal app cannot run here, as one line for the user.
struct TerminalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
