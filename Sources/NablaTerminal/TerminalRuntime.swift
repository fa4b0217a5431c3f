import CNcursesw
import Foundation
import NablaTUI

/// The terminal front of the app: owns the ncurses session, the poll loop, the job
/// queue, the wake pipe and signal handling, and draws the Screens the pure core renders.
///
/// The loop blocks in `poll()` on stdin and the wake pipe (no timer, except a 100 ms
/// tick while a job runs, for the spinner). Every signal whose default action ends the
/// process ends the loop like `q` does (a crash restores the terminal in its handler),
/// `endwin()` runs on every way out, and SIGCONT (after Ctrl-Z and `fg`) sets the
/// terminal's modes again.
public final class TerminalRuntime {
    /// Seams for end-to-end tests of the binary; production runs leave them empty.
    public struct Hooks: Sendable {
        /// Called on a job's thread after each progress report (a map head, a re-cut head):
        /// a test slows jobs here so that it can watch their progress and cancel them.
        public var pace: (@Sendable (JobProgress) -> Void)?

        public init(pace: (@Sendable (JobProgress) -> Void)? = nil) {
            self.pace = pace
        }
    }

    let config: AppConfig
    let loader: InputLoader
    /// The one-pass pooling loads try first (the map before the token-level data).
    let pooledLoader: PooledLoader?
    let noColorFlag: Bool
    let hooks: Hooks

    public init(config: AppConfig, loader: @escaping InputLoader, pooledLoader: PooledLoader? = nil, noColorFlag: Bool,
                hooks: Hooks = Hooks()) {
        self.config = config
        self.loader = loader
        self.pooledLoader = pooledLoader
        self.noColorFlag = noColorFlag
        self.hooks = hooks
    }

    /// Runs the app until it quits; returns the exit status (0, or 128 + the signal).
    /// - Throws: `TerminalError` when the terminal cannot run the app (see `CursesSession`).
    public func run() throws -> Int32 {
        let utf8 = TerminalLocale.prepare()
        let wake = try WakePipe()
        // Handlers go in before ncurses starts, so it keeps its own off these signals.
        let route = SignalRoute(to: wake)
        defer { route.restore() }
        // A crash (a trap or a fault) still gives the terminal back its modes.
        let crash = CrashGuard()
        defer { crash.remove() }
        let environment = ProcessInfo.processInfo.environment
        let session = try CursesSession(environment: environment)
        defer { session.end() }

        var appConfig = config
        let mode = ColorMode.select(colors: session.colors, noColorEnv: environment["NO_COLOR"], noColorFlag: noColorFlag)
        appConfig.theme = Theme(mode: mode, glyphs: .forLocale(utf8: utf8))
        if appConfig.mouse { session.enableMouse() }
        var loop = EventLoop(session: session, wake: wake, loader: loader, pooledLoader: pooledLoader, config: appConfig,
                             pace: hooks.pace)
        return loop.run()
    }
}

/// The app's main loop on a started session: draw, wait for input, a job or a signal,
/// reduce, repeat.
struct EventLoop {
    let session: CursesSession
    let wake: WakePipe
    let jobs: JobQueue
    var painter: CursesPainter
    var state: AppState
    var timing: TimingLog
    /// Keys were read and the screen showing them is not drawn yet.
    var keysPending = false

    init(session: CursesSession, wake: WakePipe, loader: @escaping InputLoader, pooledLoader: PooledLoader? = nil,
         config: AppConfig, pace: (@Sendable (JobProgress) -> Void)? = nil) {
        self.session = session
        self.wake = wake
        jobs = JobQueue(wake: wake, loader: loader, pooledLoader: pooledLoader, pace: pace)
        painter = CursesPainter(theme: config.theme, colors: session.colors, pairs: Int(nabla_color_pairs()))
        state = AppState(config: config)
        timing = TimingLog(environment: ProcessInfo.processInfo.environment)
    }

    /// Runs until the app quits or a signal ends it; returns the exit status.
    mutating func run() -> Int32 {
        dispatch(start(&state, size: session.size))
        while !state.quitRequested {
            painter.draw(render(state, size: state.size))
            timing.drawn(state)
            if keysPending {
                keysPending = false
                jobs.endInteractive()
            }
            var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, state.isBusy ? 100 : -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return 1
            }
            if ready == 0 {
                send(.tick)
                continue
            }
            if fds[1].revents != 0, let status = handleWake(wake.drain()) { return status }
            let input = fds[0].revents
            if input & Int16(POLLIN) != 0 { readInput() }
            if input & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 && !state.quitRequested {
                // The terminal went away (stdin closed or hung up): end as SIGHUP would.
                return 128 + SIGHUP
            }
        }
        return 0
    }

    /// Acts on the wake pipe's bytes: finished jobs, a resize, a stop (Ctrl-Z), a continue after it;
    /// returns the exit status when a signal ends the app.
    mutating func handleWake(_ bytes: [UInt8]) -> Int32? {
        for byte in bytes {
            switch Int32(byte) {
            case Int32(WakePipe.jobDone):
                for event in jobs.takeProgress() { send(event) }
                for done in jobs.take() {
                    send(.jobFinished(lane: done.lane, generation: done.generation, outcome: done.outcome))
                }
            case SIGWINCH:
                session.resize()
                painter.invalidate()
                send(.resize(session.size))
            case SIGTSTP:
                session.suspend()
                SignalRoute.stopProcess()
            case SIGCONT:
                session.reenter()
                painter.invalidate()
                send(.resize(session.size))
            default:
                return 128 + Int32(byte)
            }
        }
        return nil
    }

    /// Everything stdin holds now, as events; background attention waits meanwhile, until
    /// the screen that shows them is drawn.
    mutating func readInput() {
        if !keysPending { jobs.beginInteractive() }
        keysPending = true
        while let event = CursesInput.next(size: { session.size }) {
            if case .resize = event { painter.invalidate() }
            send(event)
            if state.quitRequested { break }
        }
    }

    mutating func dispatch(_ effects: [Effect]) {
        // The fallback is marked wanted before a new job can make it look stale.
        jobs.setNewest(state.generations, keeping: state.fallbackLoad?.generation)
        for effect in effects { jobs.submit(effect) }
    }

    mutating func send(_ event: InputEvent) {
        timing.received(event)
        let effects = reduce(&state, event)
        timing.reduced()
        dispatch(effects)
    }
}
