import Foundation

/// The committed `Samples/` directory and the tensor files in it.
enum SamplesDirectory {
    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Samples").path

    /// Every file in `Samples/` but the documentation, sorted.
    static func tensorFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { !$0.hasSuffix(".md") && !$0.hasPrefix(".") }
            .sorted()
    }
}
