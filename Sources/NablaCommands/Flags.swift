import NablaCore

extension InputSetting {
    /// The command-line option that gives this setting.
    var flag: String {
        switch self {
        case .grid: "--grid"
        case .order: "--order"
        case .axes: "--axes"
        case .batch: "--batch"
        case .heads: "--heads"
        case .headDim: "--head-dim"
        case .patch: "--patch"
        case .seed: "--seed"
        }
    }
}

extension SettingNames {
    /// Settings as the commands spell them: a value the caller gave or could give is its
    /// option (`--grid 2x8x8`, `--grid TxHxW`); a value from a file stays "grid 2x8x8
    /// (from __metadata__ of FILE)", since no option was given.
    static let flags = SettingNames { m in
        let v = m.value.map { " \($0)" } ?? ""
        switch m.role {
        case .value(source: .caller), .wanted: return m.setting.flag + v
        case .origin(.caller): return "\(m.setting.name) from \(m.setting.flag)"
        case .value, .origin: return SettingNames.engine.name(m)
        }
    }
}

extension NablaError {
    /// The error with its settings spelled as options, for the command line and the app.
    var flagWorded: NablaError { NablaError(code, message(naming: .flags)) }
}

extension FileSummary {
    /// The command that opens the file, for the summary's last line: it carries the
    /// layout and stand-in `options` `info` was given (`--grid 8x24x40 --order raster`), so
    /// it runs as printed.
    func openCommand(options: [String] = []) -> String? {
        guard problem == nil else { return nil }
        let rest = options.isEmpty ? "" : " " + options.map(shellQuoted).joined(separator: " ")
        switch kind {
        case .model: return "nabla mask \(shellQuoted(path + ":" + (pair ?? pairs[0])))\(rest) --threshold 0.9   (every pair: nabla mask \(shellQuoted(path)) --all\(rest) --threshold 0.9 --out DIR)"
        case .qk: return "nabla mask \(shellQuoted(path))\(rest) --threshold 0.9"
        case .latent: return "nabla mask --latent \(shellQuoted(path))\(rest) --threshold 0.9"
        case .none: return nil
        }
    }
}
