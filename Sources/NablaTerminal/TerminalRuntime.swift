import CNcursesw
import NablaTUI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The terminal front of the app: owns ncurses, the poll loop, the job queue, the wake
/// pipe and signal handling, and draws the Screens the pure core renders.
///
/// The loop blocks in `poll()` on stdin and the wake pipe (no timer, except a 100 ms
/// tick while a job runs, for the spinner). SIGINT, SIGTERM and SIGHUP end the loop like
/// `q` does, and `endwin()` runs on every way out.
public final class TerminalRuntime {
    let config: AppConfig
    let loader: InputLoader
    let noColorFlag: Bool

    public init(config: AppConfig, loader: @escaping InputLoader, noColorFlag: Bool) {
        self.config = config
        self.loader = loader
        self.noColorFlag = noColorFlag
    }

    /// Runs the app until it quits; returns the exit status (0, or 128 + the signal).
    public func run() throws -> Int32 {
        let utf8 = TerminalLocale.prepare()
        let wake = try WakePipe()
        // Handlers go in before ncurses starts, so it keeps its own off these signals.
        let route = SignalRoute(to: wake)
        defer { route.restore() }
        // A crash (a trap or a fault) still gives the terminal back its modes.
        let crash = CrashGuard()
        defer { crash.remove() }
        let term = getenv("TERM").map { String(cString: $0) } ?? "(unset)"
        guard let terminal = nabla_newterm() else {
            throw TerminalError("cannot drive terminal type '\(term)' (TERM); use 'nabla render' for text output")
        }
        defer {
            endwin()
            delscreen(terminal)
        }
        guard nabla_can_address_cursor() != 0 else {
            throw TerminalError("terminal type '\(term)' (TERM) cannot move the cursor; use 'nabla render' for text output")
        }
        cbreak()
        noecho()
        nonl()
        intrflush(nabla_stdscr(), false)
        keypad(nabla_stdscr(), true)
        nodelay(nabla_stdscr(), true)
        set_escdelay(25)
        curs_set(0)

        var colors = 0
        if has_colors() {
            start_color()
            use_default_colors()
            colors = Int(nabla_colors())
        }
        let noColorEnv = getenv("NO_COLOR").map { String(cString: $0) }
        let mode = ColorMode.select(colors: colors, noColorEnv: noColorEnv, noColorFlag: noColorFlag)
        var appConfig = config
        appConfig.theme = Theme(mode: mode, glyphs: .forLocale(utf8: utf8))
        if appConfig.mouse {
            mousemask(nabla_button1_pressed() | nabla_button4_pressed() | nabla_button5_pressed(), nil)
            mouseinterval(0)
        }

        var painter = CursesPainter(theme: appConfig.theme, colors: colors, pairs: Int(nabla_color_pairs()))
        let jobs = JobQueue(wake: wake, loader: loader)
        var state = AppState(config: appConfig)

        func dispatch(_ effects: [Effect]) {
            for effect in effects { jobs.submit(effect) }
            jobs.setNewest(state.generation)
        }
        func send(_ event: InputEvent) {
            dispatch(reduce(&state, event))
        }

        dispatch(start(&state, size: currentSize()))
        var status: Int32 = 0
        loop: while !state.quitRequested {
            painter.draw(render(state, size: state.size))
            var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, state.job != nil ? 100 : -1)
            if ready < 0 {
                if errno == EINTR { continue }
                status = 1
                break
            }
            if ready == 0 {
                send(.tick)
                continue
            }
            if fds[1].revents != 0 {
                for byte in wake.drain() {
                    switch Int32(byte) {
                    case Int32(WakePipe.jobDone):
                        for (generation, outcome) in jobs.take() {
                            send(.jobFinished(generation: generation, outcome: outcome))
                        }
                    case SIGWINCH:
                        var rows: Int32 = 0, cols: Int32 = 0
                        if nabla_terminal_size(STDOUT_FILENO, &rows, &cols) == 0 {
                            resizeterm(rows, cols)
                        }
                        clearok(nabla_curscr(), true)
                        painter.invalidate()
                        send(.resize(currentSize()))
                    default:
                        status = 128 + Int32(byte)
                        break loop
                    }
                }
            }
            if fds[0].revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 && fds[0].revents & Int16(POLLIN) == 0 {
                status = 129
                break
            }
            if fds[0].revents & Int16(POLLIN) != 0 {
                while let event = readEvent() {
                    if case .resize = event { painter.invalidate() }
                    send(event)
                    if state.quitRequested { break }
                }
            }
        }
        return status
    }

    func currentSize() -> Size {
        var rows: Int32 = 0, cols: Int32 = 0
        nabla_getmaxyx(nabla_stdscr(), &rows, &cols)
        return Size(width: Int(cols), height: Int(rows))
    }

    /// The next input event ncurses has, or `nil` when there is none.
    func readEvent() -> InputEvent? {
        while true {
            var ch: wint_t = 0
            let r = wget_wch(nabla_stdscr(), &ch)
            if r == ERR { return nil }
            if r == KEY_CODE_YES {
                switch Int32(ch) {
                case KEY_RESIZE: return .resize(currentSize())
                case KEY_MOUSE:
                    var event = MEVENT()
                    guard getmouse(&event) == OK else { continue }
                    let x = Int(event.x), y = Int(event.y)
                    if event.bstate & nabla_button4_pressed() != 0 { return .mouse(MouseEvent(.wheelUp, x: x, y: y)) }
                    if nabla_button5_pressed() != 0 && event.bstate & nabla_button5_pressed() != 0 {
                        return .mouse(MouseEvent(.wheelDown, x: x, y: y))
                    }
                    if event.bstate & nabla_button1_pressed() != 0 { return .mouse(MouseEvent(.press, x: x, y: y)) }
                    continue
                default:
                    if let key = KeyCodes.special(Int32(ch)) { return .key(key) }
                    continue
                }
            }
            if let key = KeyCodes.character(UInt32(ch)) { return .key(key) }
        }
    }
}

/// ncurses key codes to `Key`s.
enum KeyCodes {
    static func special(_ code: Int32) -> Key? {
        switch code {
        case KEY_UP: .up
        case KEY_DOWN: .down
        case KEY_LEFT: .left
        case KEY_RIGHT: .right
        case KEY_NPAGE: .pageDown
        case KEY_PPAGE: .pageUp
        case KEY_HOME: .home
        case KEY_END: .end
        case KEY_DC: .delete
        case KEY_BACKSPACE: .backspace
        case KEY_ENTER: .enter
        case KEY_BTAB: .tab
        default: nil
        }
    }

    static func character(_ value: UInt32) -> Key? {
        switch value {
        case 27: return .escape
        case 13, 10: return .enter
        case 9: return .tab
        case 8, 127: return .backspace
        case 1...26: return .control(Character(Unicode.Scalar(UInt8(value) + 96)))
        default:
            guard value >= 32, let scalar = Unicode.Scalar(value) else { return nil }
            return .character(Character(scalar))
        }
    }
}
