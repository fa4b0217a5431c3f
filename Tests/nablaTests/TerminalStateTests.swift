import Foundation
import Testing

/// Signals whose default action ends a process (signal(7)), written out here from the
/// manual page rather than taken from nabla: the standard ones, and three real-time
/// signals (glibc's SIGRTMIN is 34, SIGRTMAX 64).
let terminatingSignals: [(Int32, String)] = [
    (SIGHUP, "HUP"), (SIGINT, "INT"), (SIGQUIT, "QUIT"), (SIGILL, "ILL"), (SIGTRAP, "TRAP"), (SIGABRT, "ABRT"),
    (SIGBUS, "BUS"), (SIGFPE, "FPE"), (SIGUSR1, "USR1"), (SIGSEGV, "SEGV"), (SIGUSR2, "USR2"), (SIGPIPE, "PIPE"),
    (SIGALRM, "ALRM"), (SIGTERM, "TERM"), (SIGSTKFLT, "STKFLT"), (SIGXCPU, "XCPU"), (SIGXFSZ, "XFSZ"),
    (SIGVTALRM, "VTALRM"), (SIGPROF, "PROF"), (SIGIO, "IO"), (SIGPWR, "PWR"), (SIGSYS, "SYS"),
    (34, "RTMIN"), (50, "RTMIN+16"), (64, "RTMAX"),
]

extension Tmux {
    /// tmux's view of the pane's modes: keypad transmit, any mouse reporting, alternate
    /// screen, cursor shown (each `0` or `1`).
    func modes() throws -> String {
        try run(["display-message", "-p", "-t", session,
                 "keypad=#{keypad_flag} mouse=#{mouse_any_flag} alternate=#{alternate_on} cursor=#{cursor_flag}"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func screenWithColors() throws -> String { try run(["capture-pane", "-p", "-e", "-t", session]) }

    /// Starts nabla (with `environment` before it) so that its pid lands in a file, then the
    /// shell prints the exit status and the tty's modes; returns the pid file's path.
    func startRecordingPid(_ environment: String = "", width: Int = 100, height: Int = 30) throws -> String {
        let pidFile = try Fixtures.temporaryDirectory("nabla-pid") + "/pid"
        let nabla = NablaProcess.executable.path
        try start("sh -c 'ulimit -c 0; sh -c \"echo \\$\\$ > \(pidFile); exec \(environment) \(nabla)\"; echo \"EXIT=$?\"; stty -a; sleep 30'",
                  width: width, height: height)
        return pidFile
    }
}

/// The modes of a terminal given back: keypad local, no mouse reporting, main screen, cursor shown.
let restoredModes = "keypad=0 mouse=0 alternate=0 cursor=1"

@Suite("The terminal given back", .tags(.terminal), .enabled(if: Tmux.available, "tmux is not installed; skipping the terminal tests"))
struct TerminalStateTests {
    @Test("every terminating signal restores the terminal: modes, echo, main screen", arguments: terminatingSignals)
    func everySignal(signal: Int32, name: String) throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        let pidFile = try tmux.startRecordingPid()
        defer { try? FileManager.default.removeItem(atPath: (pidFile as NSString).deletingLastPathComponent) }
        try tmux.wait("the first frame") { $0.contains("thr 0.90") }
        #expect(try tmux.modes() == "keypad=1 mouse=1 alternate=1 cursor=0", "the app's modes before SIG\(name)")
        let pid = try #require(pid_t(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, signal) == 0)
        let end = try tmux.wait("the exit after SIG\(name)") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=\(128 + signal)"), "SIG\(name)")
        #expect(terminalRestored(end), "SIG\(name)")
        #expect(!end.contains("? help"), "SIG\(name): the app's screen is gone")
        #expect(try tmux.modes() == restoredModes, "SIG\(name)")
    }

    /// nabla on the sample, run from an interactive shell with job control (Ctrl-Z, fg), up
    /// to its first map.
    static func startInJobControlShell(_ tmux: Tmux) throws {
        try tmux.start("env -i PATH=/usr/bin:/bin TERM=screen HOME=/tmp bash --norc --noprofile -i", width: 100, height: 30)
        try tmux.wait("the shell") { $0.contains("$") || $0.contains("#") }
        try tmux.literal(NablaProcess.executable.path)
        try tmux.keys("Enter")
        try tmux.wait("the map", seconds: 60) { statusDensity($0) != nil }
    }

    @Test("Ctrl-Z stops the app whatever it is drawing: right after the first frame and right after each fg, five times")
    func suspendWhileDrawing() throws {
        // ncurses' own SIGTSTP handler, run inside the signal on whatever the main loop was
        // doing, lost about one Ctrl-Z in five that came while a frame was drawn.
        let tmux = Tmux()
        defer { tmux.kill() }
        try Self.startInJobControlShell(tmux)
        for round in 1...5 {
            try tmux.keys("C-z")
            try tmux.wait("stop \(round)") { $0.components(separatedBy: "Stopped").count - 1 == round }
            #expect(try tmux.modes() == restoredModes, "stop \(round)")
            try tmux.literal("fg")
            try tmux.keys("Enter")
            // At once: the app is redrawing its whole screen after the continue.
            try tmux.wait("the app again \(round)") { $0.contains("? help") }
        }
        try tmux.literal("q")
        try tmux.wait("the shell again") { !$0.contains("? help") }
        #expect(try tmux.modes() == restoredModes)
    }

    @Test("after Ctrl-Z and fg the keys are decoded again: Down moves the cursor, it is not [ and B")
    func suspendAndResume() throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        try Self.startInJobControlShell(tmux)
        try tmux.keys("C-z")
        try tmux.wait("the stop") { $0.contains("Stopped") }
        #expect(try tmux.modes() == restoredModes, "the shell gets a normal terminal while nabla is stopped")
        try tmux.literal("fg")
        try tmux.keys("Enter")
        let before = try tmux.wait("the map again") { statusDensity($0) != nil && $0.contains("query #") }
        #expect(try tmux.modes() == "keypad=1 mouse=1 alternate=1 cursor=0", "every mode is back after fg")
        let status = before.split(separator: "\n").last { $0.contains("thr") }
        let query = before.split(separator: "\n").first { $0.contains("query #") }
        try tmux.keys("Down")
        let after = try tmux.wait("the cursor to move") { $0.split(separator: "\n").first { $0.contains("query #") } != query }
        // '[' would change the head and 'B' the block shape: the status line says neither happened.
        #expect(after.split(separator: "\n").last { $0.contains("thr") } == status)
        try tmux.literal("q")
        try tmux.wait("the shell again") { !$0.contains("? help") }
        #expect(try tmux.modes() == restoredModes)
    }

    @Test("terminals without an alternate screen are cleared on q", arguments: ["vt100", "linux"])
    func noAlternateScreen(term: String) throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        try tmux.start(nablaCommand("env -u NO_COLOR TERM=\(term)"), width: 100, height: 30)
        try tmux.wait("the first frame") { $0.contains("thr 0.90") }
        try tmux.literal("q")
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=0"))
        #expect(!end.contains("? help") && !end.contains("thr 0.90"), "\(term): the status line stayed:\n\(end)")
    }

    @Test("stdin closing (the terminal hung up, SIGHUP ignored) ends the app with status 129")
    func stdinCloses() throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        let dir = try Fixtures.temporaryDirectory("nabla-hup")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try tmux.start("sh -c 'trap \"\" HUP; \(NablaProcess.executable.path); echo $? > \(dir)/status'", width: 100, height: 30)
        try tmux.wait("the first frame") { $0.contains("thr 0.90") }
        try tmux.run(["kill-pane", "-t", tmux.session])
        let end = Date().addingTimeInterval(10)
        var status = ""
        while Date() < end {
            status = (try? String(contentsOfFile: dir + "/status", encoding: .utf8)) ?? ""
            if !status.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(status.trimmingCharacters(in: .whitespacesAndNewlines) == "129")
    }

    @Test("LANG=C: the real app draws with ASCII only and quits cleanly")
    func nonUTF8() throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        try tmux.start(nablaCommand("env -u NO_COLOR LANG=C LC_ALL=C"), width: 100, height: 30)
        let screen = try tmux.wait("the map", seconds: 60) { statusDensity($0) != nil }
        #expect(screen.unicodeScalars.allSatisfy { $0.isASCII }, "non-ASCII on a C-locale screen")
        #expect(screen.contains("q\\k"))
        try tmux.literal("q")
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=0") && terminalRestored(end))
    }

    @Test("terminals nabla cannot drive are refused with one line, before the screen changes",
          arguments: [("TERM=dumb", "cannot move the cursor"), ("TERM=no-such-terminal", "cannot drive terminal type 'no-such-terminal'"),
                      ("-u TERM", "TERM is not set")])
    func refused(environment: String, message: String) throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        try tmux.start(nablaCommand("env -u NO_COLOR \(environment)"), width: 100, height: 30)
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("error: ") && end.contains(message), "\(end)")
        #expect(!end.contains("EXIT=0"))
        #expect(terminalRestored(end))
        #expect(try tmux.modes() == restoredModes)
    }

    @Test("keys and mouse reports as the terminal sends them: Down, PageUp, wheel, click")
    func keysAndMouse() throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        try tmux.start(nablaCommand(), width: 100, height: 30)
        try tmux.wait("the map", seconds: 60) { statusDensity($0) != nil }
        func line(_ screen: String, _ needle: String) -> String? { screen.split(separator: "\n").first { $0.contains(needle) }.map(String.init) }
        let start = try tmux.screen()
        try tmux.keys("PageUp")  // threshold +0.10
        try tmux.wait("thr 1.00") { $0.contains("thr 1.00") }
        try tmux.keys("Down")
        try tmux.wait("the cursor one pixel down") { line($0, "query #") != line(start, "query #") }
        // X10 mouse reports (ESC [ M, then 32 + button, 33 + column, 33 + row): wheel up at 10,10.
        try tmux.literal("\u{1B}[M`++")
        try tmux.wait("zoom in") { $0.contains("4 blocks/px") }
        // Button 1 at column 20, row 8 (0-based 19, 7) selects that block.
        let before = try tmux.screen()
        try tmux.literal("\u{1B}[M 4(")
        try tmux.wait("the click") { line($0, "query #") != line(before, "query #") }
    }

    @Test("without a terminal on stdin or stdout, view says so in one line")
    func noTTY() throws {
        let r = try NablaProcess.run(["view"])
        #expect(r.status != 0)
        #expect(r.stderr == "error: nabla view needs a terminal; use 'nabla render' for text output\n")
        #expect(r.stdout.isEmpty)
    }
}

/// A cell of a `capture-pane -e` screen: its character and SGR state.
struct ColoredCell {
    var character: Character
    /// The foreground as tmux writes it: `nil` default, `30`...`37`, `90`...`97`, `38;5;N`, `38;2;R;G;B`.
    var foreground: String?
    var bold: Bool
}

/// Parses `capture-pane -e` output into rows of cells (SGR sequences only; tmux emits nothing else).
func coloredCells(_ text: String) -> [[ColoredCell]] {
    var rows: [[ColoredCell]] = []
    // tmux carries the SGR state over line ends.
    var fg: String?
    var bold = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        var row: [ColoredCell] = []
        var i = line.startIndex
        while i < line.endIndex {
            if line[i] == "\u{1B}", let m = line[i...].firstIndex(of: "m") {
                let params = line[line.index(i, offsetBy: 2)..<m].split(separator: ";", omittingEmptySubsequences: false).map(String.init)
                var k = 0
                while k < params.count {
                    let p = Int(params[k]) ?? 0
                    switch p {
                    case 0: fg = nil; bold = false
                    case 1: bold = true
                    case 22: bold = false
                    case 30...37, 90...97: fg = params[k]
                    case 39: fg = nil
                    case 38:
                        let n = params.count > k + 1 && params[k + 1] == "2" ? 5 : 3
                        fg = params[k..<min(k + n, params.count)].joined(separator: ";")
                        k += n - 1
                    case 48:
                        k += params.count > k + 1 && params[k + 1] == "2" ? 4 : 2
                    default: break
                    }
                    k += 1
                }
                i = line.index(after: m)
                continue
            }
            row.append(ColoredCell(character: line[i], foreground: fg, bold: bold))
            i = line.index(after: i)
        }
        rows.append(row)
    }
    return rows
}

@Suite("Colour output end to end", .tags(.terminal), .enabled(if: Tmux.available, "tmux is not installed; skipping the terminal tests"))
struct ColorOutputTests {
    /// Starts nabla with `environment`, waits for its map, returns the coloured screen.
    func screen(_ environment: String) throws -> (text: String, cells: [[ColoredCell]], tmux: Tmux) {
        let tmux = Tmux()
        try tmux.start(nablaCommand("env -u NO_COLOR -u COLORTERM \(environment)"), width: 120, height: 40)
        try tmux.wait("the map", seconds: 60) { statusDensity($0) != nil }
        let text = try tmux.screenWithColors()
        return (text, coloredCells(text), tmux)
    }

    /// Whether `c` is drawn as a pixel (block elements) or blank, rather than as text.
    func isText(_ c: Character) -> Bool {
        c != " " && !c.unicodeScalars.allSatisfy { (0x2580...0x259F).contains($0.value) }
    }

    @Test("8 colours (TERM=xterm): no text in black, bold or not; labels, rules and digits in the default colour")
    func eightColors() throws {
        let (_, cells, tmux) = try screen("TERM=xterm")
        defer { tmux.kill() }
        var text = 0
        for (y, row) in cells.enumerated() {
            for (x, cell) in row.enumerated() where isText(cell.character) {
                text += 1
                #expect(cell.foreground != "30", "text '\(cell.character)' at \(x),\(y) in black (bold: \(cell.bold))")
            }
        }
        #expect(text > 500)
        // The map's pixels are coloured, so colour is on at all.
        #expect(cells.joined().contains { !isText($0.character) && $0.character != " " && $0.foreground != nil })
    }

    @Test("256 colours (TERM=screen-256color): the ramp from the palette, muted labels in grey 245")
    func palette256() throws {
        let (text, cells, tmux) = try screen("TERM=screen-256color")
        defer { tmux.kill() }
        #expect(text.contains("38;5;"))
        #expect(!text.contains("38;2;"))
        let labels = cells.joined().filter { $0.character == "┬" || $0.character == "┤" }
        #expect(!labels.isEmpty && labels.allSatisfy { $0.foreground == "38;5;245" }, "\(labels.prefix(3))")
    }

    @Test("COLORTERM=truecolor with TERM=xterm-256color draws 24-bit colour",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/terminfo/x/xterm-direct"), "no xterm-direct terminfo (ncurses-term)"))
    func truecolor() throws {
        let (text, cells, tmux) = try screen("TERM=xterm-256color COLORTERM=truecolor")
        defer { tmux.kill() }
        #expect(text.contains("38;2;"))
        // Muted text is RGB(138, 138, 138) in 24-bit mode.
        let labels = cells.joined().filter { $0.character == "┬" || $0.character == "┤" }
        #expect(!labels.isEmpty && labels.allSatisfy { $0.foreground == "38;2;138;138;138" }, "\(labels.prefix(3))")
        let plain = try screen("TERM=xterm-256color COLORTERM=")
        defer { plain.tmux.kill() }
        #expect(!plain.text.contains("38;2;"))
    }
}
