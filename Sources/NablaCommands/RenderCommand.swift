import ArgumentParser
import Foundation
import NablaCore
import NablaTUI
import NablaTerminal

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Print the screen the terminal app would show after some key presses, as plain text.",
        discussion: """
        Keys use vim-like notation: plain characters are keys; <Up> <Down> <Left> <Right> <Esc> \
        <Enter> <Tab> <BS> <PageUp> <PageDown> <C-c> name special keys and <lt> is '<'. \
        Example: --keys ':thr 0.5<Enter>]]o'. Jobs run to completion before the next key.
        """
    )

    @OptionGroup var input: InputOptions
    @OptionGroup var settings: ViewSettings

    @Option(parsing: .unconditional, help: ArgumentHelp("Screen size in columns x rows.", valueName: "WxH"))
    var size: String = "120x40"

    @Option(parsing: .unconditional, help: ArgumentHelp("Keys to press before printing (see above).", valueName: "KEYS"))
    var keys: String = ""

    @Flag(help: "Monochrome drawing (shade characters), as with NO_COLOR.")
    var noColor = false

    func run() throws {
        let screenSize = try Size(parsing: size)
        let pressed = try Key.parseSequence(keys)
        // Bad layouts, files and heads fail here with their own error (and exit status), as
        // in view, before anything is drawn; a whole-model dump is checked at its first pair.
        try settings.checkStart(input)
        let noColorEnv = ProcessInfo.processInfo.environment["NO_COLOR"]
        // Plain text carries no colour; the mode only decides how the map is drawn.
        let mode = ColorMode.select(colors: 256, noColorEnv: noColorEnv, noColorFlag: noColor)
        let glyphs = Glyphs.forLocale(utf8: TerminalLocale.prepare())
        let config = try settings.config(input: input, theme: Theme(mode: mode, glyphs: glyphs), mouse: true)
        var app = HeadlessApp(config: config, size: screenSize, loader: settings.loader())
        app.press(pressed)
        print(app.screen.text)
        // The screen shows a failed load in its status line; scripts also get the status.
        if app.state.map == nil, case .error(let message)? = app.state.message {
            throw NablaError(.fileUnreadable, message)
        }
        if app.state.heads > 0, let head = config.head, !app.state.headIndices.contains(head) {
            throw NablaError(.badArgument, "--" + HeadSelection.missing(head, headIndices: app.state.headIndices))
        }
    }
}
