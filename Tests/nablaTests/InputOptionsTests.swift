import Testing
@testable import NablaCommands
import NablaCore

/// The terminal app takes its inputs as typed requests (`InputSpec`), parsed once: the
/// command line's and `:open`'s words must mean the same request.
@Suite("input options")
struct InputOptionsTests {
    @Test(":open's words parse to the request the command line makes of them", arguments: [
        [String](),
        ["Samples/latent.npy", "--patch", "1x4x4", "--heads", "4"],
        ["--latent", "x.safetensors:lat", "--axes", "t y x c", "--batch", "1", "--seed", "7", "--head-dim", "32"],
        ["q.npy", "k.npy", "--grid", "2x16x16", "--order", "block"],
        ["q.npy", "k.npy", "v.npy", "--axes", "b s h d", "--batch", "0", "--grid", "2x8x8", "--order", "raster"],
    ])
    func sameRequest(args: [String]) throws {
        let options = try InputOptions.parse(args)
        let request = try ViewSettings.openParser(args)
        #expect(request == (try options.spec()))
    }

    @Test(":open refuses a bad option in one line naming it", arguments: [
        (["q.npy", "k.npy", "--grid", "2x16"], "--grid"),
        (["q.npy", "k.npy", "--bogus"], "--bogus"),
        (["a", "b", "c", "d"], "4 inputs"),
    ])
    func badOpen(args: [String], named: String) {
        do {
            _ = try ViewSettings.openParser(args)
            Issue.record("\(args) was accepted")
        } catch let error as NablaError {
            #expect(error.message.contains(named), "\(error.message)")
            #expect(!error.message.contains("\n"))
        } catch {
            Issue.record("\(error)")
        }
    }
}
