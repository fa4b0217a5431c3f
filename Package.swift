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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        .target(name: "CNablaKernels"),
        .target(
            name: "NablaCore",
            dependencies: [
                "CNablaKernels",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                // PNG figures (Report/Figure+PNG.swift): zlib through a maintained binding.
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        .target(name: "NablaTUI", dependencies: ["NablaCore"]),
        .systemLibrary(
            name: "CNcursesw",
            providers: [.apt(["libncurses-dev"]), .brew(["ncurses"])]
        ),
        .target(name: "NablaTerminal", dependencies: ["NablaTUI", "CNcursesw"]),
        .executableTarget(
            name: "nabla",
            dependencies: [
                "NablaCore", "NablaTUI", "NablaTerminal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "NablaCoreTests", dependencies: ["NablaCore"]),
        .testTarget(name: "NablaTUITests", dependencies: ["NablaTUI", "NablaCore"], exclude: ["Snapshots"]),
        .testTarget(name: "NablaTerminalTests", dependencies: ["NablaTerminal", "NablaTUI", "CNcursesw"]),
        .testTarget(name: "nablaTests", dependencies: ["nabla", "NablaCore"]),
    ]
)
