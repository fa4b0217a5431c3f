import ArgumentParser
import Foundation
import NablaCore

@main
struct Nabla: ParsableCommand {
    static let configuration = CommandConfiguration(
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
        subcommands: [ViewCommand.self, MaskCommand.self, AttendCommand.self, RenderCommand.self, BenchCommand.self,
                      InfoCommand.self, SampleCommand.self],
        defaultSubcommand: ViewCommand.self
    )

    /// Runs the command; bad input ends with one line on stderr starting `error:`.
    static func main() {
        // Outputs in flight are removed on SIGINT/SIGTERM/SIGHUP (the app installs its own
        // terminal handlers over these when it starts).
        OutputCleanup.installSignalHandlers()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as NablaError {
            fail(error.message(naming: .flags), code: 1)
        } catch {
            let code = exitCode(for: error)
            let message = self.message(for: error)
            // --help, --version and clean exits print as ArgumentParser does.
            if code == .success || message.isEmpty { exit(withError: error) }
            let first = message.split(separator: "\n").first.map(String.init) ?? message
            // Usage mistakes point at the help; other failures stand on their own.
            fail(code == .validationFailure ? "\(first) (see 'nabla help')" : first, code: code.rawValue)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        let line = "error: " + message.replacingOccurrences(of: "\n", with: " ") + "\n"
        FileHandle.standardError.write(Data(line.utf8))
        Foundation.exit(code)
    }
}
