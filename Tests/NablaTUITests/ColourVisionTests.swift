import Foundation
import NablaCore
import Testing
@testable import NablaTUI

/// Colours that read for colour-blind readers and in print (issue 20, item 7): the compare
/// overlay's kinds stay apart under a simulation of deuteranopia and protanopia, in every
/// colour mode and in the figures, and the kept ramp stays monotone in lightness.
///
/// The simulation is written here: Machado, Oliveira and Fernandes (2009), "A
/// Physiologically-based Model for Simulation of Color Vision Deficiency", severity 1.0
/// matrices, applied in linear sRGB; distances are CIE76 ΔE in CIELAB (D65).
@Suite("Colour vision")
struct ColourVisionTests {
    static let deuteranopia: [[Double]] = [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
    static let protanopia: [[Double]] = [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]

    static func linear(_ c: Double) -> Double { c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4) }

    /// CIELAB of an sRGB colour (0-255 channels) after `matrix` in linear RGB.
    static func lab(_ r: UInt8, _ g: UInt8, _ b: UInt8, through matrix: [[Double]]?) -> (Double, Double, Double) {
        var v = [r, g, b].map { linear(Double($0) / 255) }
        if let m = matrix { v = m.map { row in min(max(row[0] * v[0] + row[1] * v[1] + row[2] * v[2], 0), 1) } }
        let x = 0.4124 * v[0] + 0.3576 * v[1] + 0.1805 * v[2]
        let y = 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]
        let z = 0.0193 * v[0] + 0.1192 * v[1] + 0.9505 * v[2]
        func f(_ t: Double) -> Double { t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116 }
        let fx = f(x / 0.95047), fy = f(y), fz = f(z / 1.08883)
        return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))
    }

    static func deltaE(_ a: (Double, Double, Double), _ b: (Double, Double, Double)) -> Double {
        ((a.0 - b.0) * (a.0 - b.0) + (a.1 - b.1) * (a.1 - b.1) + (a.2 - b.2) * (a.2 - b.2)).squareRoot()
    }

    static func rgb(_ color: TerminalColor) -> RGB? {
        switch color {
        case .rgb(let c): c
        case .indexed(let i): Theme.xterm256[i]
        case .terminalDefault: nil
        }
    }

    /// Every pair of `colors` (name, r, g, b) at least `minimum` apart under each vision.
    static func expectApart(_ colors: [(String, UInt8, UInt8, UInt8)], minimum: Double, _ what: String) {
        for (vision, matrix) in [("normal", nil), ("deuteranopia", deuteranopia), ("protanopia", protanopia)] as [(String, [[Double]]?)] {
            for i in colors.indices { for j in colors.indices where j > i {
                let a = colors[i], b = colors[j]
                let d = deltaE(lab(a.1, a.2, a.3, through: matrix), lab(b.1, b.2, b.3, through: matrix))
                #expect(d >= minimum, "\(what), \(vision): \(a.0) and \(b.0) are \(String(format: "%.1f", d)) apart")
            } }
        }
    }

    @Test("the simulation is the published one: pure colours land where the matrices put them")
    func simulationSanity() {
        // Red and green collapse towards the same hue under deuteranopia but not normally.
        let red = Self.lab(255, 0, 0, through: nil), green = Self.lab(0, 160, 0, through: nil)
        let redD = Self.lab(255, 0, 0, through: Self.deuteranopia), greenD = Self.lab(0, 160, 0, through: Self.deuteranopia)
        #expect(Self.deltaE(redD, greenD) < Self.deltaE(red, green) / 2)
        // Greys are unchanged (each row sums to 1).
        let grey = Self.lab(128, 128, 128, through: nil), greyD = Self.lab(128, 128, 128, through: Self.deuteranopia)
        #expect(Self.deltaE(grey, greyD) < 0.5)
    }

    @Test("compare overlay kinds stay apart for deuteranopia and protanopia in 24-bit and 256 colours", arguments: [ColorMode.truecolor, .palette256])
    func overlayTerminal(mode: ColorMode) throws {
        let theme = Theme(mode: mode, glyphs: .unicodeSet)
        var colors: [(String, UInt8, UInt8, UInt8)] = []
        for (name, role) in [("only A", ColorRole.onlyA), ("only B", .onlyB), ("both", .both), ("mixed", .mixed), ("neither", .dropped(0))] {
            let c = try #require(Self.rgb(theme.color(role)), "\(name)")
            colors.append((name, c.r, c.g, c.b))
        }
        Self.expectApart(colors, minimum: 20, "\(mode)")
    }

    @Test("the compare figure's colours stay apart for deuteranopia and protanopia, and from the white page")
    func overlayFigure() {
        let fig = Figures.compare(MaskComparison(Self.mask(0.5), Self.mask(0.9)), head: 0, title: "t")
        // The figure's legend swatches, in order only A, only B, both (and mixed when pooled): read from the SVG.
        let svg = fig.svg()
        let fills = Self.legendFills(svg)
        #expect(fills.count >= 3, "\(fills)")
        Self.expectApart(fills.enumerated().map { ("swatch \($0.offset)", $0.element.0, $0.element.1, $0.element.2) } + [("page", 255, 255, 255)],
                         minimum: 20, "figure")
    }

    @Test("follow view: STA-only tiles stay apart from every level of the kept ramp and from dropped tiles",
          arguments: [ColorMode.truecolor, .palette256])
    func staOnly(mode: ColorMode) throws {
        let theme = Theme(mode: mode, glyphs: .unicodeSet)
        let sta = try #require(Self.rgb(theme.color(.staOnly)))
        for role in (0..<Theme.rampLevels).map({ ColorRole.kept(UInt8($0)) }) + (0..<Theme.droppedLevels).map({ ColorRole.dropped(UInt8($0)) }) {
            let c = try #require(Self.rgb(theme.color(role)))
            Self.expectApart([("STA only", sta.r, sta.g, sta.b), ("\(role)", c.r, c.g, c.b)], minimum: 20, "\(mode)")
        }
    }

    @Test("the row figure's STA-only bars stay apart from its kept bars, dropped bars and the page")
    func rowFigure() {
        let colors: [(String, FigureColor)] = [("STA only", .staOnly), ("kept", .viridis(0.35)), ("dropped", .dropped), ("page", .white)]
        Self.expectApart(colors.map { ($0.0, $0.1.r, $0.1.g, $0.1.b) }, minimum: 20, "row figure")
    }

    /// A two-head mask of the sample-sized synthetic map at `threshold`.
    static func mask(_ threshold: Double) -> SpecifiedMask {
        let blocks = try! BlockGrid(grid: TokenGrid(t: 2, h: 16, w: 16), block: .nabla)
        let n = blocks.count
        var kept = [UInt8](repeating: 0, count: n * n)
        for q in 0..<n { for k in 0..<n where (q + k) % 8 < Int(threshold * 8) { kept[q * n + k] = 1 } }
        return SpecifiedMask(spec: MaskSpec(.cut(MaskSettings(threshold: threshold))), blocks: blocks, heads: 1, kept: kept, map: nil)
    }

    /// The fills of the legend's swatches (14x12 rectangles) in `svg`, in order.
    static func legendFills(_ svg: String) -> [(UInt8, UInt8, UInt8)] {
        let pattern = try! NSRegularExpression(pattern: ##"<rect[^>]*width="14"[^>]*height="12"[^>]*fill="#([0-9a-fA-F]{6})""##)
        return pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { m in
            let hex = (svg as NSString).substring(with: m.range(at: 1))
            let v = Int(hex, radix: 16)!
            return (UInt8(v >> 16), UInt8((v >> 8) & 255), UInt8(v & 255))
        }
    }
}
