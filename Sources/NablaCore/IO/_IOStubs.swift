// TEMPORARY: replaced by the real readers on merge.
public enum NPY {
    public static func read(path: String) throws -> RawTensor { throw NablaError(.unsupported, "stub") }
    public static func write(_ values: [Float], shape: [Int], to path: String) throws {}
    public static func write(_ values: [Double], shape: [Int], to path: String) throws {}
    public static func write(_ values: [Int32], shape: [Int], to path: String) throws {}
    public static func write(_ values: [UInt8], shape: [Int], to path: String) throws {}
}
public struct SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let metadata: [String: String]
    public static func open(path: String) throws -> SafetensorsFile { throw NablaError(.unsupported, "stub") }
}
public struct TensorSource: Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var key: String?
    public init(path: String, key: String?) { self.path = path; self.key = key }
    public init(parsing spec: String) { path = spec }
    public func load() throws -> RawTensor { throw NablaError(.unsupported, "stub") }
    public var description: String { path }
}
