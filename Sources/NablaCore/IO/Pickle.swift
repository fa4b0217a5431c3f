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

    var pos = 0
    var stack = ValueStack()
    var memo: [Int: Value] = [:]
    /// Values made so far (see `maxObjects`).
    var made = 0
    let maxObjects: Int

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
}
