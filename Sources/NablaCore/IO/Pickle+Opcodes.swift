// The opcode loop of PickleReader and its helpers (the reader's type and entry point are in
// Pickle.swift).

extension PickleReader {
    func malformed(_ what: String, at offset: Int) -> NablaError {
        NablaError(.malformedFile, "\(name): byte \(offset): \(what)")
    }

    func refused(_ what: String, at offset: Int) -> NablaError {
        NablaError(.unsupported, "\(name): byte \(offset): refusing \(what); nabla reads only tensors in dicts, lists and tuples and never runs code from a pickle")
    }

    mutating func take(_ n: Int, at op: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - pos else {
            throw malformed("truncated: opcode needs \(n) more bytes, \(bytes.count - pos) left", at: op)
        }
        let start = pos
        pos += n
        return UnsafeRawBufferPointer(rebasing: bytes[start..<start + n])
    }

    mutating func uint(_ n: Int, at op: Int) throws -> UInt64 {
        let b = try take(n, at: op)
        var v: UInt64 = 0
        for i in stride(from: n - 1, through: 0, by: -1) { v = v << 8 | UInt64(b[i]) }
        return v
    }

    mutating func line(at op: Int) throws -> String {
        // Looks no further than the longest name allowed (a scan to the end of the
        // pickle per GLOBAL would make the reader quadratic).
        let window = bytes[pos..<min(bytes.count, pos + 257)]
        guard let end = window.firstIndex(of: 0x0A) else {
            throw malformed(window.count == 257 ? "GLOBAL name longer than 256 bytes" : "truncated: no newline after GLOBAL", at: op)
        }
        let s = String(decoding: bytes[pos..<end], as: UTF8.self)
        pos = end + 1
        return s
    }

    mutating func string(_ n: Int, at op: Int) throws -> String {
        let b = try take(n, at: op)
        guard let s = String(validating: b, as: UTF8.self) else { throw malformed("string is not valid UTF-8", at: op) }
        return s
    }

    /// Pushes a value the pickle made, counting it against `maxObjects`.
    mutating func make(_ v: Value, at op: Int) throws {
        made += 1
        guard made <= maxObjects else {
            throw NablaError(.tooLarge, "\(name): byte \(op): the pickle makes more than \(maxObjects) values, nabla's limit for a torch.save file")
        }
        stack.push(v)
    }

    mutating func pop(at op: Int) throws -> Value {
        guard let v = stack.pop() else {
            throw malformed("stack underflow", at: op)
        }
        return v
    }

    /// Pops the items above the topmost mark, and the mark.
    mutating func popMark(at op: Int) throws -> [Value] {
        guard let items = stack.popToMark() else { throw malformed("no MARK before this opcode", at: op) }
        return items
    }

    func int(_ v: Value, _ what: String, at op: Int) throws -> Int {
        if case .int(let i) = v { return i }
        throw malformed("\(what) is a \(v.kindName), expected an int", at: op)
    }

    func ints(_ v: Value, _ what: String, at op: Int) throws -> [Int] {
        guard case .tuple(let tuple) = v else { throw malformed("\(what) is a \(v.kindName), expected a tuple of ints", at: op) }
        return try tuple.items.map { try int($0, what, at: op) }
    }

    /// Runs the opcodes up to STOP. Each case reads its operands, then pops, then
    /// computes, then pushes, as separate statements: no call on `self` takes an argument
    /// that changes `self` (the reader's state is never copied, nor read while it changes).
    mutating func run() throws -> Value {
        while pos < bytes.count {
            let op = pos
            let code = bytes[pos]
            pos += 1
            switch code {
            case 0x80: // PROTO
                let v = try take(1, at: op)[0]
                guard (2...5).contains(v) else { throw NablaError(.unsupported, "\(name): pickle protocol \(v) (nabla reads 2 to 5)") }
            case 0x95: _ = try take(8, at: op) // FRAME: only a hint for buffering
            case UInt8(ascii: "."): // STOP
                guard stack.values.count == 1, !stack.hasMarks else {
                    throw malformed("STOP with \(stack.values.count) values on the stack (expected 1)", at: op)
                }
                return stack.values[0]
            case UInt8(ascii: "("): stack.mark() // MARK
            case UInt8(ascii: "0"): _ = try pop(at: op) // POP
            case UInt8(ascii: "1"): // POP_MARK
                guard stack.dropToMark() else { throw malformed("no MARK before this opcode", at: op) }
            case UInt8(ascii: "}"): try make(.dict(Container(.dict)), at: op)
            case UInt8(ascii: "]"): try make(.list(Container(.list)), at: op)
            case UInt8(ascii: ")"): try make(.tuple(Container(.tuple)), at: op)
            case UInt8(ascii: "t"): // TUPLE
                let items = try popMark(at: op)
                try make(.tuple(Container(.tuple, items: items)), at: op)
            case 0x85, 0x86, 0x87: // TUPLE1..3
                guard let items = stack.pop(Int(code - 0x84)) else { throw malformed("stack underflow", at: op) }
                try make(.tuple(Container(.tuple, items: items)), at: op)
            case UInt8(ascii: "a"), UInt8(ascii: "e"): // APPEND, APPENDS
                let items: [Value]
                if code == UInt8(ascii: "a") {
                    let item = try pop(at: op)
                    items = [item]
                } else {
                    items = try popMark(at: op)
                }
                guard case .list(let list)? = stack.top else { throw malformed("APPEND to \(Self.describe(stack.top)), expected a list", at: op) }
                list.items += items
            case UInt8(ascii: "s"), UInt8(ascii: "u"): // SETITEM, SETITEMS
                let items: [Value]
                if code == UInt8(ascii: "s") {
                    let value = try pop(at: op)
                    let key = try pop(at: op)
                    items = [key, value]
                } else {
                    items = try popMark(at: op)
                }
                guard items.count % 2 == 0 else { throw malformed("SETITEMS with an odd number of values", at: op) }
                guard case .dict(let dict)? = stack.top else { throw malformed("SETITEM on \(Self.describe(stack.top)), expected a dict", at: op) }
                for i in stride(from: 0, to: items.count, by: 2) {
                    switch items[i] {
                    case .string, .int: dict.pairs.append((items[i], items[i + 1]))
                    default: throw malformed("dict key is a \(items[i].kindName); nabla reads str and int keys", at: op)
                    }
                }
            case UInt8(ascii: "N"): try make(.none, at: op)
            case 0x88: try make(.bool(true), at: op)
            case 0x89: try make(.bool(false), at: op)
            case UInt8(ascii: "J"):
                let raw = try uint(4, at: op)
                try make(.int(Int(Int32(bitPattern: UInt32(raw)))), at: op)
            case UInt8(ascii: "K"):
                let raw = try uint(1, at: op)
                try make(.int(Int(raw)), at: op)
            case UInt8(ascii: "M"):
                let raw = try uint(2, at: op)
                try make(.int(Int(raw)), at: op)
            case 0x8A: // LONG1: little-endian two's complement of n bytes
                let n = Int(try uint(1, at: op))
                guard n <= 8 else { throw refused("an integer of \(n) bytes (more than 64 bits)", at: op) }
                var value = 0
                if n > 0 {
                    let raw = try uint(n, at: op)
                    let shift = UInt64(64 - 8 * n)
                    value = Int(Int64(bitPattern: raw << shift) >> Int64(shift))
                }
                try make(.int(value), at: op)
            case UInt8(ascii: "G"): // BINFLOAT, big-endian
                let raw = try uint(8, at: op).byteSwapped
                try make(.float(Double(bitPattern: raw)), at: op)
            case UInt8(ascii: "X"), 0x8C, 0x8D: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                let n = try uint(code == 0x8C ? 1 : code == 0x8D ? 8 : 4, at: op)
                guard n <= UInt64(bytes.count - pos) else {
                    throw malformed("truncated: string of \(n) bytes runs past the end (\(bytes.count - pos) left)", at: op)
                }
                let s = try string(Int(n), at: op)
                try make(.string(s), at: op)
            case UInt8(ascii: "c"): // GLOBAL module\nname\n
                let module = try line(at: op)
                let gname = try line(at: op)
                let g = try global(module: module, name: gname, at: op)
                try make(g, at: op)
            case 0x93: // STACK_GLOBAL
                let gname = try pop(at: op)
                let module = try pop(at: op)
                guard case .string(let m) = module, case .string(let n) = gname else {
                    throw malformed("STACK_GLOBAL needs two strings", at: op)
                }
                let g = try global(module: m, name: n, at: op)
                try make(g, at: op)
            case UInt8(ascii: "Q"): // BINPERSID
                let pid = try pop(at: op)
                let storage = try persistent(pid, at: op)
                try make(storage, at: op)
            case UInt8(ascii: "R"): // REDUCE
                let args = try pop(at: op)
                let callable = try pop(at: op)
                let result = try reduce(callable, args, at: op)
                try make(result, at: op)
            case UInt8(ascii: "b"): // BUILD: state for an object already built
                let state = try pop(at: op)
                guard let target = stack.top else { throw malformed("BUILD on an empty stack", at: op) }
                switch (target, state) {
                case (.dict, .dict), (.dict, .none), (.tensor, .none), (.tensor, .dict), (.tensor, .tuple):
                    break // an OrderedDict's __dict__ (state_dict's _metadata), a tensor's python attributes: not needed
                default:
                    throw refused("BUILD of a \(target.kindName) with a \(state.kindName)", at: op)
                }
            case UInt8(ascii: "h"), UInt8(ascii: "j"): // BINGET, LONG_BINGET
                let index = Int(try uint(code == UInt8(ascii: "h") ? 1 : 4, at: op))
                guard let v = memo[index] else { throw malformed("memo entry \(index) read before it was written", at: op) }
                stack.push(v)
            case UInt8(ascii: "q"), UInt8(ascii: "r"): // BINPUT, LONG_BINPUT
                let index = Int(try uint(code == UInt8(ascii: "q") ? 1 : 4, at: op))
                try put(index, at: op)
            case 0x94: // MEMOIZE
                let index = memo.count
                try put(index, at: op)
            default:
                throw refused("pickle opcode 0x\(String(code, radix: 16, uppercase: true))\(printable(code))", at: op)
            }
        }
        throw malformed("truncated: ends without STOP", at: pos)
    }

    static func describe(_ v: Value?) -> String {
        v.map { "a \($0.kindName)" } ?? "an empty stack"
    }

    func printable(_ code: UInt8) -> String {
        (0x21...0x7E).contains(code) ? " ('\(Character(UnicodeScalar(code)))')" : ""
    }

    /// Memo entry `index` := the top of the current frame (CPython reads `stack[-1]`).
    mutating func put(_ index: Int, at op: Int) throws {
        guard let v = stack.top else { throw malformed("memo write from an empty stack", at: op) }
        memo[index] = v
    }

    func global(module: String, name gname: String, at op: Int) throws -> Value {
        guard let g = Global.named(module: module, name: gname) else {
            throw refused("to import \(TensorIO.shown(module)).\(TensorIO.shown(gname))", at: op)
        }
        return .global(g)
    }

    func persistent(_ pid: Value, at op: Int) throws -> Value {
        guard case .tuple(let tuple) = pid, case let t = tuple.items, t.count == 5, case .string("storage") = t[0] else {
            throw refused("a persistent id that is not ('storage', type, key, location, numel)", at: op)
        }
        guard case .global(.storage(let dtype)) = t[1] else {
            throw refused("a storage of type \(t[1].kindName)", at: op)
        }
        guard case .string(let key) = t[2] else { throw malformed("storage key is a \(t[2].kindName), expected a str", at: op) }
        let count = try int(t[4], "storage size", at: op)
        guard count >= 0 else { throw malformed("storage '\(TensorIO.shown(key))' has negative size \(count)", at: op) }
        return .storage(StorageRef(key: key, dtype: dtype, count: count))
    }

    func reduce(_ callable: Value, _ args: Value, at op: Int) throws -> Value {
        guard case .global(let g) = callable else { throw refused("to call a \(callable.kindName)", at: op) }
        guard case .tuple(let tuple) = args else { throw malformed("REDUCE arguments are a \(args.kindName), expected a tuple", at: op) }
        let a = tuple.items
        switch g {
        case .orderedDict:
            guard a.isEmpty else { throw refused("OrderedDict called with \(a.count) arguments", at: op) }
            return .dict(Container(.dict))
        case .rebuildParameter:
            guard (3...4).contains(a.count), case .tensor = a[0] else {
                throw malformed("_rebuild_parameter needs (tensor, requires_grad, hooks[, state])", at: op)
            }
            return a[0]
        case .rebuildTensor:
            guard (6...7).contains(a.count) else {
                throw malformed("_rebuild_tensor_v2 has \(a.count) arguments, expected 6 or 7", at: op)
            }
            guard case .storage(let storage) = a[0] else {
                throw malformed("_rebuild_tensor_v2's storage is a \(a[0].kindName)", at: op)
            }
            let offset = try int(a[1], "storage offset", at: op)
            let shape = try ints(a[2], "size", at: op)
            let strides = try ints(a[3], "stride", at: op)
            guard shape.count <= TensorIO.maxRank else {
                throw malformed("tensor size has \(shape.count) dimensions; at most \(TensorIO.maxRank) are allowed", at: op)
            }
            guard shape.count == strides.count else {
                throw malformed("tensor size \(shape) and stride \(strides) differ in length", at: op)
            }
            return .tensor(TensorRef(storage: storage, offset: offset, shape: shape, strides: strides))
        case .storage:
            throw refused("to call a storage type", at: op)
        }
    }
}
