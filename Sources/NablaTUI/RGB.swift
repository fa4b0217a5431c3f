import Foundation

/// An sRGB colour.
public struct RGB: Hashable, Sendable, CustomStringConvertible {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// `0xRRGGBB`, the colour number of a direct-colour terminal.
    public var packed: Int { Int(r) << 16 | Int(g) << 8 | Int(b) }

    /// WCAG relative luminance in `[0, 1]` (linearised sRGB, Rec. 709 weights).
    public var luminance: Double {
        func lin(_ c: UInt8) -> Double {
            let s = Double(c) / 255
            return s <= 0.04045 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }

    func distanceSquared(_ o: RGB) -> Int {
        let dr = Int(r) - Int(o.r), dg = Int(g) - Int(o.g), db = Int(b) - Int(o.b)
        // Weighted towards green, as the eye is (a cheap stand-in for a perceptual space).
        return 2 * dr * dr + 4 * dg * dg + 3 * db * db
    }

    static func mix(_ a: RGB, _ b: RGB, _ t: Double) -> RGB {
        func m(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8((Double(x) + (Double(y) - Double(x)) * t).rounded()) }
        return RGB(m(a.r, b.r), m(a.g, b.g), m(a.b, b.b))
    }

    public var description: String { "#" + String(packed, radix: 16).leftPadded(to: 6, with: "0") }
}
