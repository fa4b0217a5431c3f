/// A restricted reader of Python pickles: the subset `torch.save` writes for tensors in
/// plain containers, and nothing else.
///
/// Like PyTorch's `weights_only` unpickler (`torch/_weights_only_unpickler.py`), it never
/// imports or calls anything: `GLOBAL` is accepted only for an allowlist of names
/// (`PickleGlobal`), and `REDUCE`, `BUILD` and persistent ids only build the values those
/// names stand for (a tensor descriptor, an `OrderedDict`, a storage reference). Any
/// other opcode or global is refused with one line naming it and its byte offset.
///
/// Opcodes (pickle protocols 2 to 4, see CPython's `Lib/pickletools.py`): PROTO, FRAME,
/// STOP, MARK, POP, POP_MARK, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, TUPLE, TUPLE1-3,
/// APPEND(S), SETITEM(S), NONE, NEWTRUE, NEWFALSE, BININT, BININT1, BININT2, LONG1,
/// BINFLOAT, BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, GLOBAL, STACK_GLOBAL,
/// BINPERSID, REDUCE, BUILD, BINGET, LONG_BINGET, BINPUT, LONG_BINPUT, MEMOIZE.
struct PickleReader {
    /// Names that `GLOBAL` may refer to. Each stands for a value the reader builds
    /// itself; none is imported.
    enum Global: Equatable {
        /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
        case rebuildTensor
        /// `torch._utils._rebuild_parameter(tensor, requires_grad, hooks)` and `_with_state`.
        case rebuildParameter
        /// `collections.OrderedDict`: called with `()` it makes an empty dict.
        case orderedDict
        /// `torch.FloatStorage` and the other typed storages: the dtype of a storage.
        case storage(DType)

        static func named(module: String, name: String) -> Global? {
            switch (module, name) {
            case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensor
            case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
                return .rebuildParameter
            case ("collections", "OrderedDict"): return .orderedDict
            case ("torch", _): return storageTypes[name].map { .storage($0) }
            default: return nil
            }
        }

        /// `torch.<Name>Storage` and the dtype of its elements.
        static let storageTypes: [String: DType] = [
            "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
            "DoubleStorage": .float64, "ByteStorage": .uint8, "CharStorage": .int8,
            "ShortStorage": .int16, "IntStorage": .int32, "LongStorage": .int64, "BoolStorage": .bool,
        ]
    }

    /// A storage named by a persistent id `('storage', torch.XStorage, key, location, numel)`:
    /// archive entry `data/KEY` holding `count` elements of `dtype`.
    struct StorageRef: Equatable {
        let key: String
        let dtype: DType
        let count: Int
    }

    /// A tensor built by `_rebuild_tensor_v2`: a strided view into a storage.
    struct TensorRef: Equatable {
        let storage: StorageRef
        /// In elements.
        let offset: Int
        let shape: [Int]
        /// In elements, one per dimension.
        let strides: [Int]
    }

    /// A mutable list or dict, shared by reference as Python's are (the memo may hold it).
    final class Container {
        var items: [Value] = []
        var pairs: [(key: Value, value: Value)] = []
        let isDict: Bool
        init(isDict: Bool) { self.isDict = isDict }
    }

    indirect enum Value {
        case none
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
        case tuple([Value])
        case list(Container)
        case dict(Container)
        case global(Global)
        case storage(StorageRef)
        case tensor(TensorRef)

        var kindName: String {
            switch self {
            case .none: "None"
            case .bool: "bool"
            case .int: "int"
            case .float: "float"
            case .string: "str"
            case .tuple: "tuple"
            case .list: "list"
            case .dict: "dict"
            case .global: "global"
            case .storage: "storage"
            case .tensor: "tensor"
            }
        }
    }

    /// The pickle's bytes and the name used in messages (`model.pt:data.pkl`).
    let bytes: UnsafeRawBufferPointer
    let name: String

    private var pos = 0
    private var stack: [Value] = []
    private var marks: [Int] = []
    private var memo: [Int: Value] = [:]

    init(bytes: UnsafeRawBufferPointer, name: String) {
        self.bytes = bytes
        self.name = name
    }

    /// Reads the pickle up to STOP and returns the value it leaves.
    /// - Throws: `NablaError.malformedFile` for a truncated or inconsistent pickle,
    ///   `.unsupported` for an opcode or global outside the allowed set.
    /// - Complexity: O(bytes).
    static func read(_ bytes: UnsafeRawBufferPointer, name: String) throws -> Value {
        var reader = PickleReader(bytes: bytes, name: name)
        return try reader.run()
    }

    private func malformed(_ what: String, at offset: Int) -> NablaError {
        NablaError(.malformedFile, "\(name): byte \(offset): \(what)")
    }

    private func refused(_ what: String, at offset: Int) -> NablaError {
        NablaError(.unsupported, "\(name): byte \(offset): refusing \(what); nabla reads only tensors in dicts, lists and tuples and never runs code from a pickle")
    }

    private mutating func take(_ n: Int, at op: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - pos else {
            throw malformed("truncated: opcode needs \(n) more bytes, \(bytes.count - pos) left", at: op)
        }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: bytes[pos..<pos + n])
    }

    private mutating func uint(_ n: Int, at op: Int) throws -> UInt64 {
        let b = try take(n, at: op)
        var v: UInt64 = 0
        for i in stride(from: n - 1, through: 0, by: -1) { v = v << 8 | UInt64(b[i]) }
        return v
    }

    private mutating func line(at op: Int) throws -> String {
        guard let end = bytes[pos...].firstIndex(of: 0x0A) else { throw malformed("truncated: no newline after GLOBAL", at: op) }
        guard end - pos <= 256 else { throw malformed("GLOBAL name longer than 256 bytes", at: op) }
        let s = String(decoding: bytes[pos..<end], as: UTF8.self)
        pos = end + 1
        return s
    }

    private mutating func string(_ n: Int, at op: Int) throws -> String {
        let b = try take(n, at: op)
        guard let s = String(validating: b, as: UTF8.self) else { throw malformed("string is not valid UTF-8", at: op) }
        return s
    }

    private mutating func pop(at op: Int) throws -> Value {
        guard let v = stack.popLast(), stack.count >= (marks.last ?? 0) else {
            throw malformed("stack underflow", at: op)
        }
        return v
    }

    /// Pops the items above the topmost mark, and the mark.
    private mutating func popMark(at op: Int) throws -> [Value] {
        guard let m = marks.popLast(), m <= stack.count else { throw malformed("no MARK before this opcode", at: op) }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private func int(_ v: Value, _ what: String, at op: Int) throws -> Int {
        if case .int(let i) = v { return i }
        throw malformed("\(what) is a \(v.kindName), expected an int", at: op)
    }

    private func ints(_ v: Value, _ what: String, at op: Int) throws -> [Int] {
        guard case .tuple(let items) = v else { throw malformed("\(what) is a \(v.kindName), expected a tuple of ints", at: op) }
        return try items.map { try int($0, what, at: op) }
    }

    private mutating func run() throws -> Value {
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
                guard stack.count == 1, marks.isEmpty else {
                    throw malformed("STOP with \(stack.count) values on the stack (expected 1)", at: op)
                }
                return stack[0]
            case UInt8(ascii: "("): marks.append(stack.count) // MARK
            case UInt8(ascii: "0"): _ = try pop(at: op) // POP
            case UInt8(ascii: "1"): _ = try popMark(at: op) // POP_MARK
            case UInt8(ascii: "}"): stack.append(.dict(Container(isDict: true)))
            case UInt8(ascii: "]"): stack.append(.list(Container(isDict: false)))
            case UInt8(ascii: ")"): stack.append(.tuple([]))
            case UInt8(ascii: "t"): stack.append(.tuple(try popMark(at: op)))
            case 0x85, 0x86, 0x87: // TUPLE1..3
                let n = Int(code - 0x84)
                guard stack.count - n >= (marks.last ?? 0) else { throw malformed("stack underflow", at: op) }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                stack.append(.tuple(items))
            case UInt8(ascii: "a"), UInt8(ascii: "e"): // APPEND, APPENDS
                let items = code == UInt8(ascii: "a") ? [try pop(at: op)] : try popMark(at: op)
                guard case .list(let list)? = stack.last else { throw malformed("APPEND to \(Self.describe(stack.last)), expected a list", at: op) }
                list.items += items
            case UInt8(ascii: "s"), UInt8(ascii: "u"): // SETITEM, SETITEMS
                let items: [Value]
                if code == UInt8(ascii: "s") {
                    let value = try pop(at: op), key = try pop(at: op)
                    items = [key, value]
                } else {
                    items = try popMark(at: op)
                }
                guard items.count % 2 == 0 else { throw malformed("SETITEMS with an odd number of values", at: op) }
                guard case .dict(let dict)? = stack.last else { throw malformed("SETITEM on \(Self.describe(stack.last)), expected a dict", at: op) }
                for i in stride(from: 0, to: items.count, by: 2) {
                    switch items[i] {
                    case .string, .int: dict.pairs.append((items[i], items[i + 1]))
                    default: throw malformed("dict key is a \(items[i].kindName); nabla reads str and int keys", at: op)
                    }
                }
            case UInt8(ascii: "N"): stack.append(.none)
            case 0x88: stack.append(.bool(true))
            case 0x89: stack.append(.bool(false))
            case UInt8(ascii: "J"): stack.append(.int(Int(Int32(bitPattern: UInt32(try uint(4, at: op))))))
            case UInt8(ascii: "K"): stack.append(.int(Int(try uint(1, at: op))))
            case UInt8(ascii: "M"): stack.append(.int(Int(try uint(2, at: op))))
            case 0x8A: // LONG1: little-endian two's complement of n bytes
                let n = Int(try uint(1, at: op))
                guard n <= 8 else { throw refused("an integer of \(n) bytes (more than 64 bits)", at: op) }
                if n == 0 { stack.append(.int(0)); break }
                let raw = try uint(n, at: op)
                let shift = UInt64(64 - 8 * n)
                stack.append(.int(Int(Int64(bitPattern: raw << shift) >> Int64(shift))))
            case UInt8(ascii: "G"): // BINFLOAT, big-endian
                let b = try take(8, at: op)
                stack.append(.float(Double(bitPattern: b.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })))
            case UInt8(ascii: "X"): stack.append(.string(try string(Int(try uint(4, at: op)), at: op)))
            case 0x8C: stack.append(.string(try string(Int(try uint(1, at: op)), at: op)))
            case 0x8D:
                let n = try uint(8, at: op)
                guard n <= UInt64(bytes.count) else { throw malformed("string length \(n) runs past the end", at: op) }
                stack.append(.string(try string(Int(n), at: op)))
            case UInt8(ascii: "c"): // GLOBAL module\nname\n
                let module = try line(at: op), gname = try line(at: op)
                stack.append(try global(module: module, name: gname, at: op))
            case 0x93: // STACK_GLOBAL
                let gname = try pop(at: op), module = try pop(at: op)
                guard case .string(let m) = module, case .string(let n) = gname else {
                    throw malformed("STACK_GLOBAL needs two strings", at: op)
                }
                stack.append(try global(module: m, name: n, at: op))
            case UInt8(ascii: "Q"): // BINPERSID
                stack.append(try persistent(try pop(at: op), at: op))
            case UInt8(ascii: "R"): // REDUCE
                let args = try pop(at: op), callable = try pop(at: op)
                stack.append(try reduce(callable, args, at: op))
            case UInt8(ascii: "b"): // BUILD: state for an object already built
                let state = try pop(at: op)
                guard let target = stack.last else { throw malformed("BUILD on an empty stack", at: op) }
                switch (target, state) {
                case (.dict, .dict), (.dict, .none), (.tensor, .none), (.tensor, .dict), (.tensor, .tuple):
                    break // an OrderedDict's __dict__ (state_dict's _metadata), a tensor's python attributes: not needed
                default:
                    throw refused("BUILD of a \(target.kindName) with a \(state.kindName)", at: op)
                }
            case UInt8(ascii: "h"): try get(Int(try uint(1, at: op)), at: op)
            case UInt8(ascii: "j"): try get(Int(try uint(4, at: op)), at: op)
            case UInt8(ascii: "q"): try put(Int(try uint(1, at: op)), at: op)
            case UInt8(ascii: "r"): try put(Int(try uint(4, at: op)), at: op)
            case 0x94: try put(memo.count, at: op) // MEMOIZE
            default:
                throw refused("pickle opcode 0x\(String(code, radix: 16, uppercase: true))\(printable(code))", at: op)
            }
        }
        throw malformed("truncated: ends without STOP", at: pos)
    }

    private static func describe(_ v: Value?) -> String {
        v.map { "a \($0.kindName)" } ?? "an empty stack"
    }

    private func printable(_ code: UInt8) -> String {
        (0x21...0x7E).contains(code) ? " ('\(Character(UnicodeScalar(code)))')" : ""
    }

    private mutating func get(_ index: Int, at op: Int) throws {
        guard let v = memo[index] else { throw malformed("memo entry \(index) read before it was written", at: op) }
        stack.append(v)
    }

    private mutating func put(_ index: Int, at op: Int) throws {
        guard let v = stack.last else { throw malformed("memo write from an empty stack", at: op) }
        memo[index] = v
    }

    private func global(module: String, name gname: String, at op: Int) throws -> Value {
        guard let g = Global.named(module: module, name: gname) else {
            throw refused("to import \(TensorIO.shown(module)).\(TensorIO.shown(gname))", at: op)
        }
        return .global(g)
    }

    private func persistent(_ pid: Value, at op: Int) throws -> Value {
        guard case .tuple(let t) = pid, t.count == 5, case .string("storage") = t[0] else {
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

    private func reduce(_ callable: Value, _ args: Value, at op: Int) throws -> Value {
        guard case .global(let g) = callable else { throw refused("to call a \(callable.kindName)", at: op) }
        guard case .tuple(let a) = args else { throw malformed("REDUCE arguments are a \(args.kindName), expected a tuple", at: op) }
        switch g {
        case .orderedDict:
            guard a.isEmpty else { throw refused("OrderedDict called with \(a.count) arguments", at: op) }
            return .dict(Container(isDict: true))
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
            guard shape.count == strides.count else {
                throw malformed("tensor size \(shape) and stride \(strides) differ in length", at: op)
            }
            return .tensor(TensorRef(storage: storage, offset: offset, shape: shape, strides: strides))
        case .storage:
            throw refused("to call a storage type", at: op)
        }
    }
}
