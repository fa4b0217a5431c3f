// swift-tools-version:6.1
import PackageDescription

// No compiler flags: the hot loops live in the C target CNablaKernels, compiled once per
// instruction-set level (x86-64 baseline, AVX2+FMA, AVX-512; arm64 NEON) through
// per-function `target` attributes, and the best level the CPU runs is chosen at start
// (NABLA_CPU=baseline|avx2|avx512 forces one; docs/engine.md). So one binary runs on any
// x86-64, and NablaCore carries no unsafeFlags that would stop another package from
// depending on it by URL. Build with `-c release`: C targets are not optimised in debug.
let package = Package(
    name: "nabla",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nabla", targets: ["nabla"]),
        .library(name: "NablaCore", targets: ["NablaCore"]),
        .library(name: "NablaTUI", targets: ["NablaTUI"]),
        .library(name: "NablaFigures", targets: ["NablaFigures"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        .target(name: "CNablaKernels"),
        .target(
            name: "NablaCore",
            dependencies: [
                "CNablaKernels",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        // Figures as PNG and PDF with their text, through Cairo (Debian's libcairo2-dev);
        // SVG stays nabla's own writer (text as text). NablaCore needs no system library.
        .systemLibrary(
            name: "CCairo",
            pkgConfig: "cairo",
            providers: [.apt(["libcairo2-dev"]), .brew(["cairo"])]
        ),
        .target(name: "NablaFigures", dependencies: ["NablaCore", "CCairo"]),
        .target(name: "NablaTUI", dependencies: ["NablaCore", "NablaFigures"]),
        .systemLibrary(
            name: "CNcursesw",
            providers: [.apt(["libncurses-dev"]), .brew(["ncurses"])]
        ),
        .target(name: "NablaTerminal", dependencies: ["NablaTUI", "CNcursesw"]),
        // The commands as a library (parsed and tested in-process), and a thin executable.
        .target(
            name: "NablaCommands",
            dependencies: [
                "NablaCore", "NablaTUI", "NablaTerminal", "NablaFigures",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "nabla", dependencies: ["NablaCommands"]),
        // The tests' shared oracles (naive attention, the block partition), for test targets only.
        .target(name: "NablaTestSupport", dependencies: ["NablaCore"], path: "Tests/NablaTestSupport"),
        .testTarget(name: "NablaCoreTests", dependencies: ["NablaCore", "NablaTestSupport"]),
        .testTarget(name: "NablaFiguresTests", dependencies: ["NablaFigures", "NablaCore"]),
        .testTarget(name: "NablaTUITests", dependencies: ["NablaTUI", "NablaCore", "NablaTestSupport"], exclude: ["Snapshots"]),
        .testTarget(name: "NablaTerminalTests", dependencies: ["NablaTerminal", "NablaTUI", "CNcursesw"]),
        .testTarget(name: "nablaTests", dependencies: ["nabla", "NablaCommands", "NablaCore"]),
    ]
)
