import Foundation

/// What a tensor is, as its file's header says: known before any of its data is read.
/// `RawTensor` (data read) and `PlannedTensor` (data not yet read) both describe one.
public protocol TensorDescription {
    /// How the tensor is named in messages: `q.npy`, `qk.safetensors:q`, `dump.npy[2, 0]`.
    var name: String { get }
    var dtype: DType { get }
    /// Logical shape; `[]` is a scalar.
    var shape: [Int] { get }
    var byteOrder: ByteOrder { get }
    /// Column-major storage (NPY `fortran_order: True`).
    var fortranOrder: Bool { get }
}

extension TensorDescription {
    /// Number of elements, the product of `shape`.
    public var count: Int { shape.reduce(1, *) }

    /// `true` when the elements are in C order (Fortran order is the same for rank <= 1).
    public var isCOrder: Bool { !fortranOrder || shape.filter { $0 > 1 }.count <= 1 }

    /// Refuses integer and bool tensors where floating values are needed.
    /// - Parameter role: what the tensor is, for the message: "Q", "a latent".
    /// - Throws: `NablaError.unsupported` naming the tensor, its dtype and shape, with a
    ///   hint for 16-bit integers, which often carry bfloat16 bit patterns through NumPy.
    public func requireFloatingPoint(as role: String) throws {
        guard !dtype.isFloatingPoint else { return }
        var hint = ""
        if dtype == .int16 || dtype == .uint16 {
            hint = "; if it holds bfloat16 bit patterns (a common way to pass bf16 through NumPy), store it as bfloat16 (e.g. torch.from_numpy(a).view(torch.bfloat16) saved with safetensors) or convert it to float32"
        }
        throw NablaError(.unsupported,
            "\(name): \(role) must be floating point (float16, bfloat16, float32 or float64), but this tensor is \(dtype) \(TensorIO.shapeText(shape))\(hint)")
    }
}

/// A tensor an input plan chose: its header is read and checked, its data is not.
/// `load(progress:)` reads the data, once, into memory nabla owns.
///
/// A plan made of these reads headers only, so `nabla info`, the memory check before
/// heavy work and the layout checks cost O(header) whatever the tensor's size, and the
/// data of a chosen tensor is read exactly once, by `load`. For a slice of a whole-model
/// dump (`dump.npy[2, 0]`) in C order only the slice's bytes are read.
public struct PlannedTensor: TensorDescription, Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let byteOrder: ByteOrder
    public let fortranOrder: Bool
    /// Bytes `load` reads from the file (0 for a tensor already in memory, or a
    /// deflated archive member, which is inflated instead).
    public let bytesToRead: Int
    /// Where the data lie, for reading some heads alone (`HeadRead`); `nil` when the
    /// tensor is not one C-order run of bytes (Fortran order, a strided `torch.save`
    /// view) or is already in memory: then `load` reads it whole.
    public let region: TensorRegion?
    private let read: @Sendable (ReadProgress?) throws -> RawTensor

    init(name: String, dtype: DType, shape: [Int], byteOrder: ByteOrder, fortranOrder: Bool, bytesToRead: Int,
         region: TensorRegion? = nil, read: @escaping @Sendable (ReadProgress?) throws -> RawTensor) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteOrder = byteOrder
        self.fortranOrder = fortranOrder
        self.bytesToRead = bytesToRead
        self.region = fortranOrder && shape.filter({ $0 > 1 }).count > 1 ? nil : region
        self.read = read
    }

    /// A tensor whose data is already in memory.
    public init(_ raw: RawTensor) {
        self.init(name: raw.name, dtype: raw.dtype, shape: raw.shape, byteOrder: raw.byteOrder,
                  fortranOrder: raw.fortranOrder, bytesToRead: 0) { _ in raw }
    }

    /// Reads the data.
    /// - Throws: `NablaError.fileUnreadable` when the file cannot be read or changed on
    ///   disk since it was opened; `.cancelled` when `progress` says to stop (nothing
    ///   read is kept).
    /// - Complexity: O(bytesToRead), one copy from the file into owned memory.
    public func load(progress: ReadProgress? = nil) throws -> RawTensor {
        let raw = try read(progress)
        precondition(raw.shape == shape && raw.dtype == dtype, "a planned tensor loads as its header said")
        return raw
    }
}

/// How far reading tensors' data has come, reported to a caller that shows it, and
/// whether that caller wants to stop. Shared by the reads of one load (Q, K and V), so
/// `bytesDone` grows from 0 to `bytesTotal` across all of them.
///
/// The report is called after every chunk (`FileBytes.chunkSize`, 32 MiB) from the
/// reading threads, one call at a time, with `bytesDone` increasing; `isCancelled` is
/// polled as often, and a `true` ends the load with `NablaError.cancelled`.
public final class ReadProgress: @unchecked Sendable {
    /// `tensor` is the name of the tensor being read (`q.npy`); bytes count data read so far.
    public typealias Report = @Sendable (_ tensor: String, _ bytesDone: Int, _ bytesTotal: Int) -> Void

    public let bytesTotal: Int
    private let report: Report?
    private let isCancelled: (@Sendable () -> Bool)?
    private let lock = NSLock()
    private var done = 0
    private var stopped = false

    public init(bytesTotal: Int, report: Report?, isCancelled: (@Sendable () -> Bool)?) {
        self.bytesTotal = bytesTotal
        self.report = report
        self.isCancelled = isCancelled
    }

    /// Bytes read so far.
    public var bytesDone: Int { lock.withLock { done } }

    /// Counts `bytes` more of `tensor` as read and reports it; `false` when the caller
    /// asked to stop (then and ever after).
    func advance(_ bytes: Int, of tensor: String) -> Bool {
        lock.withLock {
            if stopped { return false }
            done += bytes
            report?(tensor, done, bytesTotal)
            if isCancelled?() == true { stopped = true }
            return !stopped
        }
    }

    /// Whether the caller asked to stop, polled before a read begins.
    var shouldStop: Bool {
        lock.withLock {
            if !stopped, isCancelled?() == true { stopped = true }
            return stopped
        }
    }

    /// The error a stopped read throws.
    static func cancelled(_ what: String) -> NablaError {
        NablaError(.cancelled, "reading \(what) was cancelled")
    }
}
