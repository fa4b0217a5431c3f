import Foundation

/// One published way of choosing which key blocks every query block keeps, computed on the
/// block grid nabla uses for everything else, so that methods compare on the same Q/K, the
/// same blocks and the same measures (issue 21).
///
/// A method sees only what `MethodContext` offers: the block grid, the pooled map (mean
/// pooled Q/K per block, NABLA.md steps 1-2), the token-level Q/K (and V) in block order,
/// and the true block mass. It returns a mask `[heads, N, N]` (1 kept), blocks raster over
/// the block grid, every row keeping at least one block; `SparseMethod.mask(_:)` wraps it
/// as a `SpecifiedMask`, the type the comparisons, `nabla diff` and the app take.
///
/// Adding a method is one file: a type conforming to this protocol, and a line in
/// `SparseMethods.all`.
public protocol SparseMethod: Sendable, CustomStringConvertible {
    /// The name on the command line (`nabla mask --method NAME`).
    static var name: String { get }
    /// Other accepted names (`topk` for `vsa`).
    static var aliases: [String] { get }
    /// The parameters, named as the method's paper or code names them; the first is the
    /// one the sweep varies.
    static var parameters: [MethodParameter] { get }
    /// Whether the mask depends on the block grid alone (not on Q/K).
    static var isStatic: Bool { get }

    /// The method with the given parameter values (absent ones take their defaults).
    /// - Throws: `NablaError.badArgument` naming the method, the parameter and its range.
    init(_ values: MethodValues) throws

    /// The value of the swept parameter (the first of `parameters`), as a number.
    var sweptValue: Double { get }

    /// Every parameter's value as text, by name (what `init(_:)` takes back).
    var parameterValues: [String: String] { get }

    /// The settings of this sweep, for `blocks`: about 2% to 60% density, ascending in
    /// density where the parameter orders it.
    static func sweep(_ blocks: BlockGrid) -> [Self]

    /// The kept blocks of every head of `context`, `[heads, N, N]`, or `nil` when
    /// `context.isCancelled` turned true.
    /// - Throws: what computing the context's parts throws (memory, missing V).
    func kept(_ context: MethodContext) throws -> [UInt8]?
}

extension SparseMethod {
    public static var aliases: [String] { [] }
    public static var isStatic: Bool { false }

    /// The mask as the comparisons take it, or `nil` when cancelled.
    /// - Throws: as `kept(_:)`.
    public func mask(_ context: MethodContext) throws -> SpecifiedMask? {
        guard let kept = try kept(context) else { return nil }
        return SpecifiedMask(spec: MaskSpec(.method(MethodSpec(self)), block: context.blocks.block), blocks: context.blocks,
                             heads: context.heads, kept: kept, map: context.pooledMapIfMade)
    }
}

/// A parameter of a method: its name as the method's paper or code names it, its range,
/// its default and what it means.
public struct MethodParameter: Sendable {
    public enum Kind: Sendable, Equatable {
        /// A number in `range` (`integer`: a whole number).
        case number(range: ClosedRange<Double>, integer: Bool)
        /// An STA window `WTxWHxWW` (odd sizes), or `off` where allowed.
        case window(optional: Bool)
    }

    public let name: String
    public let kind: Kind
    /// The default as text, or `nil` when the parameter must be given.
    public let defaultText: String?
    public let help: String

    public init(_ name: String, _ kind: Kind, default defaultText: String?, help: String) {
        self.name = name
        self.kind = kind
        self.defaultText = defaultText
        self.help = help
    }

    /// `keep in (0, 1]`-style text for messages.
    public var rangeText: String {
        switch kind {
        case .number(let r, let integer):
            let lo = integer ? String(Int(r.lowerBound)) : String(format: "%g", r.lowerBound)
            let hi = integer ? String(Int(r.upperBound)) : String(format: "%g", r.upperBound)
            return (integer ? "a whole number in " : "a number in ") + "[\(lo), \(hi)]"
        case .window(let optional):
            return "a window WTxWHxWW of odd sizes" + (optional ? " or off" : "")
        }
    }
}

/// Parameter values given by name, as text (from the command line or a mask spec).
public struct MethodValues: Sendable, Equatable {
    public var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    /// The number given for `p` (or its default), checked against its range.
    /// - Throws: `NablaError.badArgument` naming `method`, the parameter and its range.
    public func number(_ p: MethodParameter, method: String) throws -> Double {
        guard case .number(let range, let integer) = p.kind else { preconditionFailure("\(p.name) is not a number") }
        guard let text = values[p.name] ?? p.defaultText else {
            throw NablaError(.badArgument, "method \(method) needs --\(p.name) (\(p.rangeText)): \(p.help)")
        }
        guard let v = Double(text), v.isFinite, range.contains(v), !integer || v == v.rounded() else {
            throw NablaError(.badArgument, "method \(method): --\(p.name) \(text) is outside its range; give \(p.rangeText) (\(p.help))")
        }
        return v
    }

    /// The window given for `p` (or its default); `nil` for `off`.
    /// - Throws: `NablaError.badArgument` naming `method` and the parameter.
    public func window(_ p: MethodParameter, method: String) throws -> STAWindow? {
        guard case .window(let optional) = p.kind else { preconditionFailure("\(p.name) is not a window") }
        guard let text = values[p.name] ?? p.defaultText else {
            throw NablaError(.badArgument, "method \(method) needs --\(p.name) (\(p.rangeText)): \(p.help)")
        }
        if text.lowercased() == "off" {
            guard optional else { throw NablaError(.badArgument, "method \(method): --\(p.name) cannot be off; give \(p.rangeText)") }
            return nil
        }
        do {
            return try STAWindow(parsing: text, what: "--\(p.name)")
        } catch let e as NablaError {
            throw NablaError(.badArgument, "method \(method): " + e.message)
        }
    }
}

/// The methods nabla knows, by name.
public enum SparseMethods {
    /// Every method, in the order tables and figures list them.
    public static let all: [any SparseMethod.Type] = [
        NablaMethod.self, STAMethod.self, VSAMethod.self, XAttentionMethod.self,
        RadialMethod.self, SVGMethod.self, OracleMethod.self,
    ]

    /// `nabla, sta, vsa (topk), ...` for messages.
    public static var namesText: String {
        all.map { $0.aliases.isEmpty ? $0.name : "\($0.name) (\($0.aliases.joined(separator: ", ")))" }.joined(separator: ", ")
    }

    /// The method type called `name` (or one of its aliases), case-insensitively.
    /// - Throws: `NablaError.badArgument` listing the known methods.
    public static func type(named name: String) throws -> any SparseMethod.Type {
        let key = name.trimmingCharacters(in: .whitespaces).lowercased()
        if let t = all.first(where: { $0.name == key || $0.aliases.contains(key) }) { return t }
        throw NablaError(.badArgument, "unknown method '\(name)'; known methods: \(namesText)")
    }

    /// The method `name` with `values`, refusing a parameter it does not take.
    /// - Throws: `NablaError.badArgument` for an unknown method, a parameter it does not
    ///   take (naming the ones it does) or a value out of range.
    public static func make(_ name: String, _ values: MethodValues) throws -> any SparseMethod {
        let t = try type(named: name)
        let known = Set(t.parameters.map(\.name))
        if let extra = values.values.keys.sorted().first(where: { !known.contains($0) }) {
            let takes = t.parameters.map { "--\($0.name)" }.joined(separator: ", ")
            throw NablaError(.badArgument, "method \(t.name) takes no --\(extra); its parameters: \(takes.isEmpty ? "none" : takes)")
        }
        return try t.init(values)
    }
}

/// A method with its parameters, hashable (for mask specs and caches).
public struct MethodSpec: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    /// Parameter values as text, by name, every parameter present.
    public let values: [String: String]

    public init(_ method: any SparseMethod) {
        name = type(of: method).name
        values = method.parameterValues
    }

    /// The method again.
    /// - Throws: never for a spec made from a method.
    public func method() throws -> any SparseMethod {
        try SparseMethods.make(name, MethodValues(values))
    }

    public var description: String {
        let t = try? SparseMethods.type(named: name)
        let order = t?.parameters.map(\.name) ?? values.keys.sorted()
        // A parameter named as its method (sta's window) is written once: `sta 3x7x11`.
        return ([name] + order.compactMap { k in values[k].map { k == name ? "\($0)" : "\(k) \($0)" } }).joined(separator: " ")
    }
}

extension SparseMethod {
    /// `vsa keep 0.1`, `sta 3x7x11`: the name and every parameter.
    public var description: String { MethodSpec(self).description }
}
