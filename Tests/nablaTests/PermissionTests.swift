import Foundation
import NablaCore
import Testing

/// A file the user may not read. The tests run as root in CI containers, and root reads
/// any file whatever its mode, so as root the check runs nabla as `nobody` (setpriv)
/// instead of pretending: the error must come from the system, not from a mode check.
@Suite("Unreadable files")
struct PermissionTests {
    static let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A directory everyone may enter holding `q.npy` (mode 000) and a readable `k.npy`.
    func files() throws -> (dir: String, q: String, k: String) {
        let dir = try Fixtures.temporaryDirectory("nabla-perm")
        chmod(dir, 0o755)
        let q = dir + "/q.npy", k = dir + "/k.npy"
        try NPY.write([Float](repeating: 1, count: 2 * 4 * 8 * 8 * 8), shape: [2, 4, 8, 8, 8], to: q)
        try NPY.write([Float](repeating: 1, count: 2 * 4 * 8 * 8 * 8), shape: [2, 4, 8, 8, 8], to: k)
        chmod(q, 0)
        chmod(k, 0o644)
        return (dir, q, k)
    }

    @Test("FileBytes refuses a file without read permission, naming it and the system's reason",
          .enabled(if: getuid() != 0, "root reads any file; the test below runs nabla as nobody instead"))
    func mappedFileAsUser() throws {
        let (dir, q, _) = try files()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = #expect(throws: NablaError.self) { _ = try FileBytes(path: q) }
        #expect(error?.message == "\(q): cannot open: Permission denied")
    }

    @Test("nabla mask on a file without read permission: one line naming it, exit 1 (as nobody when root)",
          .enabled(if: getuid() != 0 || setpriv != nil, "running as root without setpriv"))
    func maskUnreadable() throws {
        let (dir, q, k) = try files()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let asNobody = getuid() == 0 ? Self.setpriv.map { [$0, "--reuid=65534", "--regid=65534", "--clear-groups"] } ?? [] : []
        let r = try NablaProcess.run(["mask", q, k, "--threshold", "0.5"], launcher: asNobody)
        #expect(r.status == 1)
        #expect(r.stderr == "error: \(q): cannot open: Permission denied\n")
    }
}
