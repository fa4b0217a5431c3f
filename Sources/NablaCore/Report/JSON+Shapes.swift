/// Shapes as reports write them: three integers in an array, e.g. `"block": [1, 8, 8]`.
extension JSON {
    static func triple(_ a: Int, _ b: Int, _ c: Int) -> JSON { .array([.int(a), .int(b), .int(c)]) }
}
