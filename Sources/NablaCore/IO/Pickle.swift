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

    /// A list, dict or tuple, shared by reference as Python's are (the memo may hold it,
    /// and several containers may hold it): traversals recognise a container met again
    /// by its identity, so a pickle of shared references costs them O(containers), not
    /// O(paths) (issue 22: "billion laughs").
    final class Container {
        enum Kind { case list, dict, tuple }
        let kind: Kind
        /// A list's or tuple's items (a tuple's are set once, when it is made).
        var items: [Value]
        /// A dict's items, in insertion order.
        var pairs: [(key: Value, value: Value)] = []
        init(_ kind: Kind, items: [Value] = []) {
            self.kind = kind
            self.items = items
        }
        var isDict: Bool { kind == .dict }
    }

    /// A value the pickle built. Containers are objects (see `Container`); the rest are
    /// plain values. (`storage` and `tensor` are boxed to keep the others small.)
    enum Value {
        case none
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
        case tuple(Container)
        case list(Container)
        case dict(Container)
        case global(Global)
        indirect case storage(StorageRef)
        indirect case tensor(TensorRef)

        var isContainer: Bool {
            switch self {
            case .tuple, .list, .dict: true
            default: false
            }
        }

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

    /// The unpickler's value stack and its marks, as CPython's `_Unpickler` keeps them
    /// (a stack, and a metastack of the stacks below each MARK): values below the topmost
    /// mark belong to an outer frame and no opcode but the one that pops the mark can
    /// reach them. Every operation checks before it changes anything, so the invariant
    /// `marks` ascending, each `<= values.count`, holds after any sequence of calls, a
    /// failed one included; values are moved out, never copied then removed.
    struct ValueStack {
        private(set) var values: [Value] = []
        private var marks: [Int] = []

        /// Where the current frame starts.
        var floor: Int { marks.last ?? 0 }
        /// Values above the topmost mark.
        var frameCount: Int { values.count - floor }
        var hasMarks: Bool { !marks.isEmpty }
        /// The top value of the current frame.
        var top: Value? { frameCount > 0 ? values.last : nil }

        mutating func push(_ v: Value) { values.append(v) }
        mutating func mark() { marks.append(values.count) }

        /// The top value of the current frame, removed; `nil` when the frame is empty.
        mutating func pop() -> Value? {
            guard frameCount > 0 else { return nil }
            return values.removeLast()
        }

        /// The top `n` values of the current frame, bottom first, removed; `nil` when the
        /// frame holds fewer.
        mutating func pop(_ n: Int) -> [Value]? {
            guard n >= 0, frameCount >= n else { return nil }
            let items = [Value](values[(values.count - n)...])
            values.removeLast(n)
            return items
        }

        /// The values above the topmost mark, bottom first, removed with the mark; `nil`
        /// without a mark.
        mutating func popToMark() -> [Value]? {
            guard hasMarks else { return nil }
            let items = pop(frameCount)
            marks.removeLast()
            return items
        }

        /// POP_MARK: drops the values above the topmost mark and the mark; `false`
        /// without a mark.
        mutating func dropToMark() -> Bool {
            guard hasMarks else { return false }
            values.removeLast(frameCount)
            marks.removeLast()
            return true
        }

        /// Everything on the stack, removed (for `dismantle`).
        mutating func takeAll() -> [Value] {
            marks = []
            defer { values = [] }
            return values
        }
    }

    /// The most values a pickle may make (each opcode makes at most one): with the
    /// 256 MiB pickle limit, what bounds the reader's memory. A state dict makes about
    /// 20 per tensor, so this allows some 400,000 tensors.
    static let maxObjects = 8 << 20

    /// The pickle's bytes and the name used in messages (`model.pt:data.pkl`).
    let bytes: UnsafeRawBufferPointer
    let name: String

    private var pos = 0
    private var stack = ValueStack()
    private var memo: [Int: Value] = [:]
    /// Values made so far (see `maxObjects`).
    private var made = 0
    private let maxObjects: Int

    init(bytes: UnsafeRawBufferPointer, name: String, maxObjects: Int = PickleReader.maxObjects) {
        self.bytes = bytes
        self.name = name
        self.maxObjects = maxObjects
    }

    /// Reads the pickle up to STOP and passes the value it leaves to `use`; the value's
    /// containers are emptied afterwards (see `dismantle`), so `use` extracts what it needs.
    /// - Parameter maxObjects: the most values the pickle may make (tests lower it).
    /// - Throws: `NablaError.malformedFile` for a truncated or inconsistent pickle,
    ///   `.tooLarge` for one that makes more than `maxObjects` values, `.unsupported`
    ///   for an opcode or global outside the allowed set.
    /// - Complexity: O(bytes) time and memory: each opcode does O(1) work besides the
    ///   values it moves (each value is moved into a container at most once).
    static func read<T>(_ bytes: UnsafeRawBufferPointer, name: String, maxObjects: Int = PickleReader.maxObjects,
                        _ use: (Value) throws -> T) throws -> T {
        var reader = PickleReader(bytes: bytes, name: name, maxObjects: maxObjects)
        // Whatever the pickle built, used or not, is taken apart without recursion after use.
        defer {
            // Move everything out of the reader first, so `all` holds the only references.
            var all = reader.stack.takeAll()
            all += reader.memo.values
            reader.memo = [:]
            dismantle(&all)
        }
        let root = try reader.run()
        return try use(root)
    }

    /// Releases `values` and everything they hold one level at a time, so a hostile
    /// pickle's million-deep nesting cannot overflow the stack when it is freed (Swift
    /// releases nested arrays and objects recursively). Containers are emptied as they
    /// are met, so one shared by many is walked once.
    /// - Complexity: O(values and container slots reachable), each container once.
    static func dismantle(_ work: inout [Value]) {
        while let v = work.popLast() {
            switch v {
            case .tuple(let c), .list(let c), .dict(let c):
                work += c.items
                for (key, value) in c.pairs { work += [key, value] }
                c.items = []
                c.pairs = []
            default:
                break
            }
        }
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
        let start = pos
        pos += n
        return UnsafeRawBufferPointer(rebasing: bytes[start..<start + n])
    }

    private mutating func uint(_ n: Int, at op: Int) throws -> UInt64 {
        let b = try take(n, at: op)
        var v: UInt64 = 0
        for i in stride(from: n - 1, through: 0, by: -1) { v = v << 8 | UInt64(b[i]) }
        return v
    }

    private mutating func line(at op: Int) throws -> String {
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

    private mutating func string(_ n: Int, at op: Int) throws -> String {
        let b = try take(n, at: op)
        guard let s = String(validating: b, as: UTF8.self) else { throw malformed("string is not valid UTF-8", at: op) }
        return s
    }

    /// Pushes a value the pickle made, counting it against `maxObjects`.
    private mutating func make(_ v: Value, at op: Int) throws {
        made += 1
        guard made <= maxObjects else {
            throw NablaError(.tooLarge, "\(name): byte \(op): the pickle makes more than \(maxObjects) values, nabla's limit for a torch.save file")
        }
        stack.push(v)
    }

    private mutating func pop(at op: Int) throws -> Value {
        guard let v = stack.pop() else {
            throw malformed("stack underflow", at: op)
        }
        return v
    }

    /// Pops the items above the topmost mark, and the mark.
    private mutating func popMark(at op: Int) throws -> [Value] {
        guard let items = stack.popToMark() else { throw malformed("no MARK before this opcode", at: op) }
        return items
    }

    private func int(_ v: Value, _ what: String, at op: Int) throws -> Int {
        if case .int(let i) = v { return i }
        throw malformed("\(what) is a \(v.kindName), expected an int", at: op)
    }

    private func ints(_ v: Value, _ what: String, at op: Int) throws -> [Int] {
        guard case .tuple(let tuple) = v else { throw malformed("\(what) is a \(v.kindName), expected a tuple of ints", at: op) }
        return try tuple.items.map { try int($0, what, at: op) }
    }

    /// Runs the opcodes up to STOP. Each case reads its operands, then pops, then
    /// computes, then pushes, as separate statements: no call on `self` takes an argument
    /// that changes `self` (the reader's state is never copied, nor read while it changes).
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

    private static func describe(_ v: Value?) -> String {
        v.map { "a \($0.kindName)" } ?? "an empty stack"
    }

    private func printable(_ code: UInt8) -> String {
        (0x21...0x7E).contains(code) ? " ('\(Character(UnicodeScalar(code)))')" : ""
    }

    /// Memo entry `index` := the top of the current frame (CPython reads `stack[-1]`).
    private mutating func put(_ index: Int, at op: Int) throws {
        guard let v = stack.top else { throw malformed("memo write from an empty stack", at: op) }
        memo[index] = v
    }

    private func global(module: String, name gname: String, at op: Int) throws -> Value {
        guard let g = Global.named(module: module, name: gname) else {
            throw refused("to import \(TensorIO.shown(module)).\(TensorIO.shown(gname))", at: op)
        }
        return .global(g)
    }

    private func persistent(_ pid: Value, at op: Int) throws -> Value {
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

    private func reduce(_ callable: Value, _ args: Value, at op: Int) throws -> Value {
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
