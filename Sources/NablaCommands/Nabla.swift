import ArgumentParser
import Foundation
import NablaCore

/// The `nabla` command and its subcommands; the executable target's `main.swift` runs
/// `Nabla.main()`.
public struct Nabla: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "nabla",
        abstract: "See and measure NABLA sparse attention (Neighborhood Adaptive Block-Level Attention).",
        discussion: """
        Without a subcommand, opens the terminal app (view). Inputs, for every command: nothing \
        (the built-in sample); Q K [V] as .npy files or FILE.safetensors:KEY; one safetensors file \
        holding q and k; or --latent FILE, a video latent turned into Q/K by a stand-in attention layer. \
        Q/K layouts: [heads, T, H, W, D], [1, heads, T, H, W, D], or [heads, S, D] / [1, heads, S, D] \
        with --grid and --order; --axes names any other layout.
        """,
        version: "0.1.0",
        subcommands: [ViewCommand.self, MaskCommand.self, AttendCommand.self, DiffCommand.self, SweepCommand.self, PlotCommand.self, RenderCommand.self, BenchCommand.self,
                      InfoCommand.self, SampleCommand.self, MergeCommand.self],
        defaultSubcommand: ViewCommand.self
    )

    /// Runs the command; bad input ends with one line on stderr starting `error:`.
    public static func main() {
        // Outputs in flight are removed on SIGINT/SIGTERM/SIGHUP (the app installs its own
        // terminal handlers over these when it starts).
        OutputCleanup.installSignalHandlers()
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let word = arguments.first, let message = unknownSubcommand(word) { fail(message, code: ExitCode.validationFailure.rawValue) }
        do {
            _ = try KernelVariant.fromEnvironment()  // a bad NABLA_CPU: one line, exit 64
            var command = try parseAsRoot()
            try command.run()
        } catch let error as NablaError {
            fail(error.message(naming: .flags), code: error.exitCode)
        } catch {
            let code = exitCode(for: error)
            let message = self.message(for: error)
            // --help, --version and clean exits print as ArgumentParser does.
            if code == .success || message.isEmpty { exit(withError: error) }
            let first = meantOption(lowercasedFirst(message.split(separator: "\n").first.map(String.init) ?? message)
                .replacingOccurrences(of: ". Did you mean", with: "; did you mean"), subcommand: subcommandName(arguments))
            // Usage mistakes point at the help of the command they were made in; other
            // failures stand on their own.
            fail(code == .validationFailure ? "\(first) (see 'nabla help \(subcommandName(arguments))')" : first,
                 code: code.rawValue)
        }
    }

    /// The names of the subcommands, as typed.
    static var subcommandNames: [String] {
        configuration.subcommands.compactMap { $0.configuration.commandName }
    }

    /// The subcommand `arguments` run: the first word naming one, else the default (view).
    static func subcommandName(_ arguments: [String]) -> String {
        let names = subcommandNames
        return arguments.first { names.contains($0) } ?? "view"
    }

    /// The message for a first word that is neither a subcommand, an option, nor an input:
    /// a word with no path separator or extension that names no file (`nabla maks`), with
    /// the nearest subcommand; `nil` for anything else.
    static func unknownSubcommand(_ word: String) -> String? {
        let names = subcommandNames + ["help"]
        guard !word.hasPrefix("-"), !names.contains(word), !word.contains("/"), !word.contains("."), !word.contains(":"),
              !FileManager.default.fileExists(atPath: word) else { return nil }
        let nearest = names.min { editDistance(word, $0) < editDistance(word, $1) }!
        let hint = editDistance(word, nearest) <= max(2, word.count / 2) ? "; did you mean '\(nearest)'?" : ""
        return "unknown subcommand '\(word)' (and no file of that name)\(hint) (subcommands: \(names.joined(separator: ", ")))"
    }

    /// Options users type for another meaning than their spelling's nearest neighbour:
    /// `--head 9` means a head to look at (`--head-select`), not the latent's head count
    /// (`--heads`), one edit away. Checked before spelling (issue 20, item 14).
    static let meanings: [String: String] = [
        "--head": "--head-select", "--select": "--head-select", "--head-index": "--head-select", "--heads-select": "--head-select",
        "--output": "--out", "--output-dir": "--out", "--outdir": "--out", "--out-dir": "--out",
        "--window": "--sta", "--sta-window": "--sta", "--tile": "--sta",
        "--block-size": "--block", "--blocks": "--block", "--block-shape": "--block",
        "--thresh": "--threshold", "--cut": "--threshold",
    ]

    /// `message` with ArgumentParser's spelling suggestion for an unknown option replaced by
    /// the option meant (`meanings`), when `subcommand` has that option; else `message`.
    static func meantOption(_ message: String, subcommand: String) -> String {
        guard message.hasPrefix("unknown option '"), let end = message.dropFirst(16).firstIndex(of: "'") else { return message }
        let typed = String(message[message.index(message.startIndex, offsetBy: 16)..<end])
        guard let meant = meanings[typed],
              let command = configuration.subcommands.first(where: { $0.configuration.commandName == subcommand }),
              command.helpMessage(columns: 1000).contains(meant + " ") || command.helpMessage(columns: 1000).contains(meant + ",")
        else { return message }
        return "unknown option '\(typed)'; did you mean '\(meant)'?"
    }

    /// Levenshtein distance between `a` and `b` (insertions, deletions, substitutions).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }

    /// ArgumentParser's messages start with a capital ("Missing value for ..."); nabla's
    /// own start in lower case, like most Unix tools. A leading word that is all capitals
    /// (an acronym) is left as it is.
    static func lowercasedFirst(_ message: String) -> String {
        guard let first = message.first, first.isUppercase else { return message }
        let second = message.dropFirst().first
        if let second, second.isUppercase { return message }
        return first.lowercased() + message.dropFirst()
    }

    static func fail(_ message: String, code: Int32) -> Never {
        // Every error passes here: paths and values in it are escaped (`Shown`), so a
        // file name holding ESC or a newline cannot reach the terminal raw.
        let line = "error: " + Shown.path(message) + "\n"
        FileHandle.standardError.write(Data(line.utf8))
        Foundation.exit(code)
    }
}

extension NablaError {
    /// The exit status for this error: 64 (`EX_USAGE`, as ArgumentParser exits for its own
    /// option errors) for a bad command-line value (`badArgument`, and `badGrid`: a grid or
    /// block the user gave that does not parse or divide); 1 for everything about the input
    /// files, the work and the outputs.
    var exitCode: Int32 {
        switch code {
        case .badArgument, .badGrid: ExitCode.validationFailure.rawValue
        default: 1
        }
    }
}
