@_spi(Fuzzing) import NablaCore

/// libFuzzer's entry point for the `dumpnames` reader (see docs/fuzzing.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    ReaderFuzzing.setUp()
    ReaderFuzzing.run("dumpnames", UnsafeRawBufferPointer(start: size == 0 ? nil : data, count: size))
    return 0
}
