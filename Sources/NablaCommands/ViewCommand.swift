import ArgumentParser
import Foundation
import NablaCore
import NablaTUI
import NablaTerminal

/// The initial settings `view` and `render` share.
struct ViewSettings: ParsableArguments {
    @OptionGroup var mask: MaskOptions

    @Option(parsing: .unconditional, help: "Head to show first: its index in the tensor, 0-based (default: the first one loaded).")
    var head: Int?

    func validate() throws {
        if let head, head < 0 { throw ValidationError("--head \(head) is below 0 (heads are numbered from 0)") }
    }

    /// Plans what the app would open first (a whole-model dump: its first pair, or the one
    /// named) and checks `--head` against it, reading headers only.
    /// - Throws: the plan's `NablaError` (a missing or malformed file, a bad layout), or
    ///   `checkHead`'s.
    func checkStart(_ input: InputOptions) throws {
        let request = try input.spec(orderBlock: mask.block)
        let first = DumpPairs.detect(request).map { $0.request(for: $0.index) } ?? request
        try checkHead(plan: try first.plan(), selection: first.heads)
    }

    /// Refuses a `--head` the input does not have (by tensor index, within `selection`),
    /// before the app takes the screen.
    /// - Throws: `NablaError.badArgument` naming the heads there are.
    func checkHead(plan: InputPlan, selection: HeadSelection?) throws {
        let total: Int
        switch plan {
        case .qk(_, _, _, let layout, _, _): total = layout.heads
        case .sample(let options), .latent(_, _, let options): total = options.heads
        }
        let indices = selection?.indices.filter { $0 < total } ?? Array(0..<total)
        if let head, !indices.contains(head) {
            throw NablaError(.badArgument, "--" + HeadSelection.missing(head, headIndices: indices))
        }
    }

    /// The app's start: what to open and the settings.
    func config(input: InputOptions, theme: Theme, mouse: Bool) throws -> AppConfig {
        let request = try input.spec(orderBlock: mask.block)
        return AppConfig(input: request, openParser: ViewSettings.openParser, inputName: request.displayName,
                         block: mask.block, threshold: mask.thresholdOrDefault,
                         sta: mask.sta, head: head, theme: theme, mouse: mouse)
    }

    /// `:open`'s words in the commands' input syntax (paths and the input options), parsed
    /// once into a request.
    static let openParser: InputParser = { words in
        do {
            return try InputOptions.parse(words).spec()
        } catch let error as NablaError {
            throw error.flagWorded
        } catch {
            let message = InputOptions.message(for: error)
            throw NablaError(.badArgument, message.split(separator: "\n").first.map(String.init) ?? message)
        }
    }

    /// Reads a request; `--order block` means block order of the block the app is at when
    /// it asks (issue 16: it was the start-up `--block`, so after `b` an `:open` checked
    /// memory and read block order for the old block). The observer hears how far the data
    /// is read and can stop the read.
    func loader() -> InputLoader {
        return { request, orderBlock, observer in
            TestSeams.pace()
            do {
                var spec = request
                spec.layout.orderBlock = orderBlock
                // 16-bit Q/K/V stay 16-bit: pooling reads them so, attention widens each row.
                try spec.checkMemory(block: orderBlock, use: .cachedMap, halfInPlace: true)
                let input = try spec.load(halfInPlace: true, halfValues: true, progress: observer.progress,
                                          isCancelled: observer.isCancelled)
                try MaskMemory.check(input: input, block: orderBlock, use: .cachedMap)
                return input
            } catch let error as NablaError {
                throw error.flagWorded
            }
        }
    }
}

extension ViewSettings {
    /// The app's first try at a load: Q and K pooled in one pass over the files
    /// (`InputSpec.loadPooled`), the memory check counting only what that path holds (the
    /// pooled vectors and maps of the selected heads, a slab per core); `nil` for an input
    /// the pass cannot read, which `loader()` then reads whole.
    func pooledLoader() -> PooledLoader {
        return { request, block, observer in
            TestSeams.pace()
            do {
                var spec = request
                spec.layout.orderBlock = block
                guard try spec.checkPooledMemory(block: block, use: .cachedMap),
                      let pooled = try spec.loadPooled(block: block, progress: observer.progress,
                                                       isCancelled: observer.isCancelled) else { return nil }
                try MaskMemory.check(pooled: pooled, use: .cachedMap)
                return pooled
            } catch let error as NablaError {
                throw error.flagWorded
            }
        }
    }
}

struct ViewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "Explore NABLA masks in the terminal: threshold, block shape, head and STA window, live.",
        discussion: "Press ? in the app for the keys. NO_COLOR or --no-color draws without colour."
    )

    @OptionGroup var input: InputOptions
    @OptionGroup var settings: ViewSettings

    @Flag(help: "Do not capture the mouse (leaves the terminal's own selection working).")
    var noMouse = false

    @Flag(help: "Monochrome display (as NO_COLOR does).")
    var noColor = false

    func run() throws {
        // A missing or malformed file fails here, as one line, before the screen is taken
        // over (the plan reads headers only; the app then loads in the background).
        // A whole-model dump opens at its first pair (or the one named), which is checked.
        try settings.checkStart(input)
        // Bad arguments and inputs are reported first, terminal or not.
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw NablaError(.badArgument, "nabla view needs a terminal; use 'nabla render' for text output")
        }
        // The runtime picks the colour mode and glyphs from the terminal and the locale.
        let config = try settings.config(input: input, theme: Theme(mode: .mono, glyphs: .asciiSet), mouse: !noMouse)
        let runtime = TerminalRuntime(config: config, loader: settings.loader(), pooledLoader: settings.pooledLoader(),
                                      noColorFlag: noColor, hooks: TestSeams.hooks)
        let status = try runtime.run()
        if status != 0 { throw ExitCode(status) }
    }
}
