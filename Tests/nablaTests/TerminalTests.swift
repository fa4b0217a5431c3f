import Foundation
import Testing

extension Tag {
    /// Tests that drive the built `nabla` in a terminal (tmux); `swift test --skip TerminalTests`
    /// leaves them out.
    @Tag static var terminal: Self
}

/// An isolated tmux server (its own socket, no user config) for driving `nabla`.
struct Tmux {
    static let path: String? = {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return dirs.map { "\($0)/tmux" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
    static var available: Bool { path != nil }

    let socket = "nabla-test-\(UUID().uuidString.prefix(8))"
    let session = "s\(UUID().uuidString.prefix(6))"

    /// Runs `tmux -L socket arguments...` and returns what it printed.
    ///
    /// Spawned directly rather than with Foundation's `Process`: the first command forks
    /// the tmux server, which would inherit and hold open the descriptors `Process` uses
    /// to see its child exit, so waiting for it would never end.
    @discardableResult
    func run(_ arguments: [String]) throws -> String {
        let path = try #require(Tmux.path)
        let argv = [path, "-L", socket, "-f", "/dev/null"] + arguments
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw POSIXError(.EMFILE) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        // Test threads may block or ignore signals; tmux and its panes must not inherit that
        // (a pane that ignores SIGHUP outlives kill-server).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let spawned = posix_spawn(&pid, path, &actions, &attributes, cArgs, environ)
        close(fds[1])
        defer { close(fds[0]) }
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL) }
        // A new server keeps this pipe open, so read only what the client wrote before it
        // exited (a pane capture is far below the 64 KiB a pipe holds).
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Starts `command` (run by `sh -c`) in a detached session of `width` x `height`.
    func start(_ command: String, width: Int = 120, height: Int = 40) throws {
        try run(["new-session", "-d", "-s", session, "-x", "\(width)", "-y", "\(height)", command])
    }

    func keys(_ keys: String...) throws { try run(["send-keys", "-t", session] + keys) }
    func literal(_ text: String) throws { try run(["send-keys", "-t", session, "-l", text]) }
    func resize(_ width: Int, _ height: Int) throws {
        try run(["resize-window", "-t", session, "-x", "\(width)", "-y", "\(height)"])
    }
    func screen() throws -> String { try run(["capture-pane", "-p", "-t", session]) }

    /// Polls the pane until `done` holds on a settled screen (two captures 50 ms apart
    /// alike, so a redraw caught half-way is not read), up to `seconds`; returns that
    /// screen, recording an issue naming `what` on timeout.
    @discardableResult
    func wait(_ what: String, seconds: Double = 10, sourceLocation: SourceLocation = #_sourceLocation,
              until done: (String) -> Bool) throws -> String {
        let end = Date().addingTimeInterval(seconds)
        var text = ""
        var previous: String?
        while Date() < end {
            text = try screen()
            if done(text) && text == previous { return text }
            previous = text
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("timed out after \(seconds) s waiting for \(what); the screen:\n\(text)", sourceLocation: sourceLocation)
        return text
    }

    /// Stops the server and removes its socket (tmux leaves it behind after kill-server).
    func kill() {
        _ = try? run(["kill-server"])
        let dir = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
        unlink("\(dir)/tmux-\(getuid())/\(socket)")
    }
}

/// `density 12.3%` in the status line.
func statusDensity(_ screen: String) -> Double? {
    guard let range = screen.range(of: #"density (\d+\.\d)%"#, options: .regularExpression) else { return nil }
    return Double(screen[range].dropFirst("density ".count).dropLast())
}

/// The command that runs nabla, then reports its status and the terminal's modes, then waits.
func nablaCommand(_ environment: String = "env -u NO_COLOR", trapInterrupt: Bool = false) -> String {
    let nabla = NablaProcess.executable.path
    return "sh -c '\(trapInterrupt ? "trap : INT; " : "")\(environment) \(nabla); echo \"EXIT=$?\"; stty -a; sleep 30'"
}

/// `stty -a` shows canonical mode and echo on again.
func terminalRestored(_ screen: String) -> Bool {
    let words = screen.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == ";" })
    return words.contains("icanon") && words.contains("echo")
}

@Suite("The app in a terminal", .tags(.terminal), .enabled(if: Tmux.available, "tmux is not installed; skipping the terminal tests"))
struct TerminalTests {
    @Test("start, threshold by prompt, help, resize below the minimum and back, quit with q")
    func session() throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        try tmux.start(nablaCommand())
        try tmux.wait("the first frame") { $0.contains("thr 0.90") && $0.contains("? help") }
        // The sample's map is computed in the background (seconds in a debug build).
        try tmux.wait("the map", seconds: 60) { statusDensity($0) != nil }

        try tmux.literal(":thr 0.5")
        try tmux.keys("Enter")
        let low = try tmux.wait("thr 0.50") { $0.contains("thr 0.50") }
        try tmux.literal(":thr 0.95")
        try tmux.keys("Enter")
        let high = try tmux.wait("thr 0.95") { $0.contains("thr 0.95") }
        let d1 = try #require(statusDensity(low)), d2 = try #require(statusDensity(high))
        #expect(d2 > d1)

        try tmux.literal("?")
        try tmux.wait("the help") { $0.contains("nabla help") && $0.contains("threshold +0.01") }
        try tmux.keys("Escape")
        try tmux.wait("the help to close") { !$0.contains("nabla help") }

        try tmux.resize(20, 6)
        try tmux.wait("the size message") { $0.contains("needs 60x16") }
        try tmux.resize(120, 40)
        try tmux.wait("the redraw at 120x40") { $0.contains("thr 0.95") && $0.contains("cursor") && !$0.contains("needs 60x16") }

        try tmux.literal("q")
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=0"))
        #expect(terminalRestored(end))
    }

    @Test("Ctrl-C exits with the terminal restored")
    func interrupt() throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        try tmux.start(nablaCommand(trapInterrupt: true), width: 100, height: 30)
        try tmux.wait("the first frame") { $0.contains("thr 0.90") }
        try tmux.keys("C-c")
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=130"))
        #expect(terminalRestored(end))
    }

    @Test("NO_COLOR=1 runs in monochrome and quits cleanly")
    func noColor() throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        try tmux.start(nablaCommand("NO_COLOR=1"), width: 80, height: 24)
        try tmux.wait("the first frame") { $0.contains("thr 0.90") }
        try tmux.literal("q")
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=0"))
        #expect(terminalRestored(end))
    }
    // Signals and crashes: TerminalStateTests.everySignal, all of them in a loop.
}
