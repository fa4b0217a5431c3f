import Testing
@testable import NablaTUI

@Suite("Colour modes")
struct ThemeTests {
    @Test("mode selection from COLORS, NO_COLOR and the flag")
    func selection() {
        #expect(ColorMode.select(colors: 1 << 24, noColorEnv: nil, noColorFlag: false) == .truecolor)
        #expect(ColorMode.select(colors: 256, noColorEnv: nil, noColorFlag: false) == .palette256)
        #expect(ColorMode.select(colors: 88, noColorEnv: nil, noColorFlag: false) == .ansi16)
        #expect(ColorMode.select(colors: 16, noColorEnv: nil, noColorFlag: false) == .ansi16)
        #expect(ColorMode.select(colors: 8, noColorEnv: nil, noColorFlag: false) == .ansi16)
        #expect(ColorMode.select(colors: 0, noColorEnv: nil, noColorFlag: false) == .mono)
        #expect(ColorMode.select(colors: 2, noColorEnv: nil, noColorFlag: false) == .mono)
        // NO_COLOR counts only when non-empty.
        #expect(ColorMode.select(colors: 256, noColorEnv: "", noColorFlag: false) == .palette256)
        #expect(ColorMode.select(colors: 256, noColorEnv: "1", noColorFlag: false) == .mono)
        #expect(ColorMode.select(colors: 1 << 24, noColorEnv: nil, noColorFlag: true) == .mono)
    }

    func luminance(_ color: TerminalColor) -> Double {
        switch color {
        case .rgb(let c): c.luminance
        case .indexed(let i): Theme.xterm256[i].luminance
        case .terminalDefault: -1
        }
    }

    @Test("each ramp is monotone in luminance in every colour mode", arguments: [ColorMode.truecolor, .palette256, .ansi16])
    func monotone(mode: ColorMode) {
        let theme = Theme(mode: mode, glyphs: .unicodeSet)
        let ramps: [[ColorRole]] = [
            (0..<Theme.rampLevels).map { .kept(UInt8($0)) },
            (0..<Theme.droppedLevels).map { .dropped(UInt8($0)) },
            (0..<Theme.greyLevels).map { .grey(UInt8($0)) },
        ]
        for ramp in ramps {
            let l = ramp.map { luminance(theme.color($0)) }
            #expect(l.allSatisfy { $0 >= 0 })
            #expect(zip(l, l.dropFirst()).allSatisfy { $0 <= $1 }, "\(mode): \(l)")
            #expect(l.last! > l.first!)
        }
    }

    @Test("kept and dropped never share a colour")
    func distinct() {
        for mode in [ColorMode.truecolor, .palette256, .ansi16] {
            let theme = Theme(mode: mode, glyphs: .unicodeSet)
            let kept = Set((0..<Theme.rampLevels).map { theme.color(.kept(UInt8($0))) })
            let dropped = Set((0..<Theme.droppedLevels).map { theme.color(.dropped(UInt8($0))) })
            #expect(kept.isDisjoint(with: dropped), "\(mode)")
        }
    }

    @Test("the 256-colour ramp follows viridis closely")
    func close() {
        for level in 0..<Theme.rampLevels {
            let want = Theme.keptRGB(UInt8(level))
            let got = Theme.xterm256[Theme.kept256[level]]
            // At most half the widest step of the cube (0 -> 95) off in each channel: weighted
            // 2 + 4 + 3 = 9 times 47.5^2 (the worst level today is about half that).
            #expect(Double(got.distanceSquared(want)) <= 9 * 47.5 * 47.5, "level \(level): \(want) -> \(got)")
        }
    }

    @Test("8-colour terminals get bright colours as bold")
    func eight() {
        #expect(TerminalColor.indexed(12).forEightColors() == (.indexed(4), true))
        #expect(TerminalColor.indexed(3).forEightColors() == (.indexed(3), false))
        #expect(TerminalColor.indexed(200).forEightColors() == (.indexed(200), false))
    }

    @Test("monochrome has no colours")
    func mono() {
        let theme = Theme(mode: .mono, glyphs: .asciiSet)
        #expect(theme.color(.kept(31)) == .terminalDefault)
        #expect(theme.color(.error) == .terminalDefault)
        #expect(!theme.halfBlockPixels && theme.cellsPerPixel == 2)
    }
}
