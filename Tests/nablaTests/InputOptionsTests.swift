import Testing
@testable import nabla
import NablaCore

/// The terminal app reopens its first input from `InputOptions.arguments`; they must
/// parse back to the same input.
@Suite("input options")
struct InputOptionsTests {
    @Test("arguments parse back to the same spec", arguments: [
        [String](),
        ["Samples/latent.npy", "--patch", "1x4x4", "--heads", "4"],
        ["--latent", "x.safetensors:lat", "--axes", "t y x c", "--batch", "1", "--seed", "7", "--head-dim", "32"],
        ["q.npy", "k.npy", "--grid", "2x16x16", "--order", "block"],
        ["q.npy", "k.npy", "v.npy", "--axes", "b s h d", "--batch", "0", "--grid", "2x8x8", "--order", "raster"],
    ])
    func roundTrip(args: [String]) throws {
        let options = try InputOptions.parse(args)
        let again = try InputOptions.parse(options.arguments)
        #expect(try again.spec() == options.spec())
        #expect(again.arguments == options.arguments)
    }
}
