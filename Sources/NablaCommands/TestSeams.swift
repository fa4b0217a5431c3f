import Foundation
import NablaTUI
import NablaTerminal

/// The end-to-end tests' seams into the binary, in one place: environment variables
/// that only the test suite sets. Production code paths never read the environment for
/// these elsewhere.
enum TestSeams {
    /// `NABLA_TEST_HEAD_DELAY_MS=N`: the app's map and re-cut jobs wait N ms after each
    /// head's progress report, and a load waits before it reads, so that terminal tests
    /// can watch progress and cancel jobs on any machine (Tests/nablaTests/TerminalTests+Progress.swift).
    static let headDelay: UInt32? = ProcessInfo.processInfo.environment["NABLA_TEST_HEAD_DELAY_MS"]
        .flatMap { UInt32($0) }.map { $0 * 1000 }

    /// Waits `headDelay`, when it is set.
    static func pace() {
        if let headDelay { usleep(headDelay) }
    }

    /// The app runtime's hooks: `pace` after each job progress report when `headDelay` is set.
    static var hooks: TerminalRuntime.Hooks {
        guard headDelay != nil else { return TerminalRuntime.Hooks() }
        let pace: @Sendable (JobProgress) -> Void = { _ in TestSeams.pace() }
        return TerminalRuntime.Hooks(pace: pace)
    }
}
