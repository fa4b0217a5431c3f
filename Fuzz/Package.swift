// swift-tools-version:5.4
// libFuzzer targets for nabla's readers, one executable per reader (docs/fuzzing.md).
// Built by run.sh with the toolchain's -sanitize=fuzzer (and address); each target calls
// ReaderFuzzing in NablaCore, which the replay test (FuzzCorpusTests) calls as well.
//
// Tools version 5.4 on purpose: from 5.5 on, SwiftPM renames an executable's entry point
// to `<module>_main` and links `main` to it, but a fuzz target has no entry point of its
// own (-parse-as-library; libFuzzer's `main` runs it), so the link would fail. Linux only
// (the toolchains Xcode ships have no libFuzzer), hence no `platforms`.
import PackageDescription

let targets = ["npy", "safetensors", "pickle", "zip", "dumpnames"]

let package = Package(
    name: "nabla-fuzz",
    products: targets.map { .executable(name: "fuzz-\($0)", targets: ["fuzz-\($0)"]) },
    dependencies: [.package(name: "nabla", path: "..")],
    targets: targets.map {
        .executableTarget(
            name: "fuzz-\($0)",
            dependencies: [.product(name: "NablaCore", package: "nabla")],
            // No `main`: libFuzzer's is linked in (-sanitize=fuzzer, given by run.sh).
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    }
)
