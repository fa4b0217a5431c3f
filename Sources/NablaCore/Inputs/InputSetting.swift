/// A setting that says how to read an input, which the caller (or a file's
/// `__metadata__`) can give: the engine names these in messages and summaries, and each
/// front end says how they are spelled (the command line: `--grid`, `--order`, ...).
public enum InputSetting: String, Sendable, CaseIterable {
    /// The token grid `TxHxW` of a flat sequence axis.
    case grid
    /// The token order of a flat sequence axis (raster or block).
    case order
    /// Axis letters naming every dimension.
    case axes
    /// The batch item to take.
    case batch
    /// The stand-in layer's heads, head dimension, patch and seed.
    case heads, headDim, patch, seed

    /// The name in the engine's own words: "grid", "head dim".
    public var name: String {
        switch self {
        case .headDim: "head dim"
        default: rawValue
        }
    }
}

/// Where a setting's value came from.
public enum SettingSource: Sendable, Equatable {
    /// The tensor's shape (a grid read from `[heads, T, H, W, D]`).
    case shape
    /// The caller of the engine (a command-line option, a prompt argument).
    case caller
    /// The `__metadata__` of the safetensors file at this path.
    case metadata(path: String)
}

/// A setting named in a message or summary.
public struct SettingMention: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        /// A value the setting has: `value` came from `source`.
        case value(source: SettingSource)
        /// A setting the caller could give, `value` being a placeholder or example
        /// (`TxHxW`, `raster|block`) or `nil`.
        case wanted
        /// Where the setting's value came from, without the value: "grid from the shape".
        case origin(SettingSource)
    }

    public var setting: InputSetting
    /// As written: `2x8x8`, `'b s h d'`.
    public var value: String?
    public var role: Role

    public init(setting: InputSetting, value: String?, role: Role) {
        self.setting = setting
        self.value = value
        self.role = role
    }

    /// "from the shape", "given by the caller", "from __metadata__ of FILE".
    public static func phrase(of source: SettingSource) -> String {
        switch source {
        case .shape: "from the shape"
        case .caller: "given by the caller"
        case .metadata(let path): "from __metadata__ of \(path)"
        }
    }
}

/// How a front end spells settings in messages; `engine` is NablaCore's own wording.
public struct SettingNames: Sendable {
    public let name: @Sendable (SettingMention) -> String

    public init(_ name: @escaping @Sendable (SettingMention) -> String) {
        self.name = name
    }

    /// "grid 2x8x8 (given by the caller)", "grid 2x8x8 (from __metadata__ of qk.safetensors)",
    /// "the grid setting (TxHxW)", "grid from the shape".
    public static let engine = SettingNames { m in
        let v = m.value.map { " \($0)" } ?? ""
        switch m.role {
        case .value(let source): return "\(m.setting.name)\(v) (\(SettingMention.phrase(of: source)))"
        case .wanted: return "the \(m.setting.name) setting" + (m.value.map { " (\($0))" } ?? "")
        case .origin(let source): return "\(m.setting.name) \(SettingMention.phrase(of: source))"
        }
    }
}

/// Text with settings named in it, spelled by whoever shows it. Built by string
/// interpolation: `"\(name): \(setting: .grid, "2x8x8") disagrees with ..."`.
public struct Wording: Sendable, Equatable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public enum Part: Sendable, Equatable {
        case text(String)
        case setting(SettingMention)
    }

    public var parts: [Part]

    public init(_ text: String) {
        parts = [.text(text)]
    }

    public init(parts: [Part]) {
        self.parts = parts
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public init(stringInterpolation: Interpolation) {
        parts = stringInterpolation.parts
    }

    /// The text with settings spelled by `names`.
    public func text(naming names: SettingNames = .engine) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .setting(let m): out += names.name(m)
            }
        }
        return out
    }

    public var description: String { text() }

    /// The settings mentioned, in order.
    public var mentions: [SettingMention] {
        parts.compactMap { if case .setting(let m) = $0 { m } else { nil } }
    }

    public static func + (a: Wording, b: Wording) -> Wording { Wording(parts: a.parts + b.parts) }

    public struct Interpolation: StringInterpolationProtocol {
        var parts: [Part] = []

        public init(literalCapacity: Int, interpolationCount: Int) {}

        public mutating func appendLiteral(_ literal: String) { appendText(literal) }

        public mutating func appendInterpolation<T>(_ value: T) { appendText(String(describing: value)) }

        /// A value of `setting` that came from `source` (the caller unless said).
        public mutating func appendInterpolation(setting: InputSetting, _ value: String, from source: SettingSource = .caller) {
            parts.append(.setting(SettingMention(setting: setting, value: value, role: .value(source: source))))
        }

        /// A setting the caller could give, with a placeholder such as `TxHxW`.
        public mutating func appendInterpolation(wanted setting: InputSetting, _ placeholder: String? = nil) {
            parts.append(.setting(SettingMention(setting: setting, value: placeholder, role: .wanted)))
        }

        /// Where `setting` came from: "grid from the shape".
        public mutating func appendInterpolation(origin setting: InputSetting, _ source: SettingSource) {
            parts.append(.setting(SettingMention(setting: setting, value: nil, role: .origin(source))))
        }

        /// Another wording, inline (labelled, so that a message holding one is a `Wording`
        /// and never flattened into a `String`).
        public mutating func appendInterpolation(wording: Wording) {
            for p in wording.parts {
                if case .text(let t) = p { appendText(t) } else { parts.append(p) }
            }
        }

        private mutating func appendText(_ t: String) {
            if case .text(let last)? = parts.last {
                parts[parts.count - 1] = .text(last + t)
            } else {
                parts.append(.text(t))
            }
        }
    }
}
