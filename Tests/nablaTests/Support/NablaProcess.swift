import Foundation

/// Runs the built `nabla` executable, as a user would, and captures what it prints.
enum NablaProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `nabla` binary beside the test bundle (SwiftPM builds it for this test target).
    static var executable: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The test binary lives in `<products>/nablaPackageTests.xctest` (a file on Linux).
        while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("nabla").path),
              dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("nabla")
    }

    /// Runs `nabla arguments...` to completion with `environment` added, in `directory`
    /// (the test's own when `nil`), through `launcher` when given (e.g. `setpriv ...`,
    /// which then runs nabla).
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
                    launcher: [String] = []) throws -> Result {
        let process = Process()
        process.executableURL = launcher.first.map { URL(fileURLWithPath: $0) } ?? executable
        process.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [executable.path] + arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes to the end before waiting, so a chatty child cannot block.
        let group = DispatchGroup()
        let errBox = DataBox()
        group.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// Written by one reader thread, read after `DispatchGroup.wait()`.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// Paths of the project's test fixtures.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func path(_ components: String...) -> String {
        components.reduce(root) { $0.appendingPathComponent($1) }.path
    }

    /// A fresh empty directory under the system's temporary directory.
    static func temporaryDirectory(_ label: String = "nabla-test") throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }
}
