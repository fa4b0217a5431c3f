extension Theme {
    // MARK: - Palettes

    static func rgb(_ role: ColorRole) -> RGB? {
        switch role {
        case .normal: nil
        case .muted: RGB(138, 138, 138)
        case .accent: RGB(95, 215, 255)
        case .title: RGB(238, 238, 238)
        case .error: RGB(255, 95, 95)
        case .cursor: RGB(255, 64, 255)
        case .outline: RGB(255, 64, 64)
        case .statusBar: RGB(48, 48, 58)
        case .ink: RGB(16, 16, 16)
        case .onlyA: RGB(255, 135, 0)
        case .onlyB: RGB(0, 135, 255)
        case .both: RGB(228, 228, 228)
        case .mixed: RGB(135, 95, 175)
        // Blue-violet: apart from every level of viridis and the greys for deuteranopia and
        // protanopia too (pink met viridis's middle there; ColourVisionTests).
        case .staOnly: RGB(95, 95, 255)
        case .kept(let l): keptRGB(l)
        case .dropped(let l): droppedRGB(l)
        case .grey(let l): greyRGB(l)
        case .video(let i): xterm256[16 + Int(i)]
        }
    }

    /// The xterm 256-colour palette as sRGB (16-231 the 6x6x6 cube, 232-255 greys);
    /// 0-15 take xterm's defaults.
    public static let xterm256: [RGB] = {
        var p = ansi16RGB
        let steps: [UInt8] = [0, 95, 135, 175, 215, 255]
        for r in steps { for g in steps { for b in steps { p.append(RGB(r, g, b)) } } }
        for i in 0..<24 {
            let v = UInt8(8 + 10 * i)
            p.append(RGB(v, v, v))
        }
        return p
    }()

    /// xterm's default 16 ANSI colours, for choosing and checking 16-colour ramps.
    public static let ansi16RGB: [RGB] = [
        RGB(0, 0, 0), RGB(205, 0, 0), RGB(0, 205, 0), RGB(205, 205, 0),
        RGB(0, 0, 238), RGB(205, 0, 205), RGB(0, 205, 205), RGB(229, 229, 229),
        RGB(127, 127, 127), RGB(255, 0, 0), RGB(0, 255, 0), RGB(255, 255, 0),
        RGB(92, 92, 255), RGB(255, 0, 255), RGB(0, 255, 255), RGB(255, 255, 255),
    ]

    /// The kept ramp in the 256 palette: for each level the nearest colour of the cube
    /// (greys are left to dropped blocks) whose luminance is not below the previous level's, so the ramp stays monotone.
    static let kept256: [Int] = monotoneNearest((0..<rampLevels).map { keptRGB(UInt8($0)) }, candidates: Array(16..<232))
    static let dropped256: [Int] = monotoneNearest((0..<droppedLevels).map { droppedRGB(UInt8($0)) }, candidates: Array(232..<256))
    static let grey256: [Int] = monotoneNearest((0..<greyLevels).map { greyRGB(UInt8($0)) }, candidates: [16] + Array(232..<256) + [231])

    static func monotoneNearest(_ colors: [RGB], candidates: [Int]) -> [Int] {
        var out: [Int] = []
        var floor = -1.0
        for c in colors {
            let allowed = candidates.filter { xterm256[$0].luminance >= floor }
            let pool = allowed.isEmpty ? candidates : allowed
            let best = pool.min { xterm256[$0].distanceSquared(c) < xterm256[$1].distanceSquared(c) }!
            out.append(best)
            floor = max(floor, xterm256[best].luminance)
        }
        return out
    }

    /// The 16-colour stand-in for viridis, by rising luminance: blue, bright blue, cyan,
    /// bright green, bright yellow.
    static let kept16: [Int] = [4, 12, 6, 10, 11]
    /// Dropped blocks in 16 colours: black, then bright black for the more probable.
    static let dropped16: [Int] = [0, 8]
    static let grey16: [Int] = [0, 8, 7, 15]

    static func index256(_ role: ColorRole) -> Int? {
        switch role {
        case .normal: nil
        case .muted: 245
        case .accent: 81
        case .title: 255
        case .error: 203
        case .cursor: 207
        case .outline: 196
        case .statusBar: 236
        case .ink: 16
        case .onlyA: 208
        case .onlyB: 33
        case .both: 254
        case .mixed: 97
        case .staOnly: 63
        case .kept(let l): kept256[Int(l)]
        case .dropped(let l): dropped256[Int(l)]
        case .grey(let l): grey256[Int(l)]
        case .video(let i): 16 + Int(i)
        }
    }

    static func index16(_ role: ColorRole) -> Int? {
        switch role {
        case .normal: nil
        case .muted: 8
        case .accent: 14
        case .title: 15
        case .error: 9
        case .cursor: 13
        case .outline: 9
        case .statusBar: nil
        case .ink: 0
        case .onlyA: 11
        case .onlyB: 12
        case .both: 15
        case .mixed: 5
        case .staOnly: 12
        case .kept(let l): kept16[coarse(l, of: rampLevels, into: kept16.count)]
        case .dropped(let l): dropped16[coarse(l, of: droppedLevels, into: dropped16.count)]
        case .grey(let l): grey16[coarse(l, of: greyLevels, into: grey16.count)]
        case .video(let i): nearest16(xterm256[16 + Int(i)])
        }
    }

    /// Level `level` of a ramp of `levels` on a shorter ramp of `count` colours.
    static func coarse(_ level: UInt8, of levels: Int, into count: Int) -> Int { Int(level) * count / levels }

    /// The ANSI colour nearest `c` among xterm's 16 defaults.
    static func nearest16(_ c: RGB) -> Int {
        ansi16RGB.indices.min { ansi16RGB[$0].distanceSquared(c) < ansi16RGB[$1].distanceSquared(c) }!
    }
}
