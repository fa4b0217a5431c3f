/// Text from files and file systems made safe to print: control characters (ESC, CR,
/// newline, C1 codes, line and paragraph separators) become visible escapes (`\u{1B}`,
/// `\n`), so a file named `a\u{1B}[31m.npy` can neither colour nor rewrite the terminal,
/// nor split one message into two lines. The one escaping used for keys
/// (`TensorIO.shown`), here without the length limit.
public enum Shown {
    /// `path` with its control characters escaped; every printed path goes through this.
    /// - Complexity: O(length).
    public static func path(_ path: String) -> String {
        TensorIO.shown(path, limit: .max)
    }

    /// Printed text of several lines: each line as `path(_:)` does it, the line breaks
    /// (and tabs) kept. What the command-line tool writes to stdout goes through this.
    /// - Complexity: O(length).
    public static func text(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in line.split(separator: "\t", omittingEmptySubsequences: false).map { path(String($0)) }.joined(separator: "\t") }
            .joined(separator: "\n")
    }
}
