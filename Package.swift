// swift-tools-version:6.1
import PackageDescription
import Foundation

// Release builds: the mask kernels are written for SIMD and need the instruction set
// that makes SIMD8<Double>/SIMD16<Float> map onto real vector registers. The default
// targets `haswell` (AVX2 + FMA, the x86-64-v3 level: every x86-64 CPU since about
// 2015); set NABLA_TARGET_CPU (for example `znver4` or `skylake-avx512`) to build for
// another CPU.
// Exclusivity checks are dropped in release builds only: the hot loops work on
// unsafe buffer pointers taken once per call, where the checks buy nothing.
let targetCPU = ProcessInfo.processInfo.environment["NABLA_TARGET_CPU"] ?? "haswell"

#if arch(x86_64)
let cpuFlags = ["-target-cpu", targetCPU]
#else
let cpuFlags: [String] = []
#endif

let releaseFlags: [SwiftSetting] = [
    .unsafeFlags(cpuFlags + ["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

// NablaCore is optimised in debug builds too (`-O`, with the same CPU): the engine and
// the sample's stand-in layer are numeric loops that run 10-50x slower unoptimised, which
// would make `swift run nabla` take seconds to show the first map and stretch the tests.
// Everything above NablaCore (the app, the terminal, the commands) stays unoptimised
// and debuggable.
let coreFlags: [SwiftSetting] = releaseFlags + [
    .unsafeFlags(cpuFlags + ["-O"], .when(configuration: .debug)),
]

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
        .target(
            name: "NablaCore",
            dependencies: [
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            swiftSettings: coreFlags
        ),
        // Figures as PNG and PDF with their text, through Cairo (Debian's libcairo2-dev);
        // SVG stays nabla's own writer (text as text). NablaCore needs no system library.
        .systemLibrary(
            name: "CCairo",
            pkgConfig: "cairo",
            providers: [.apt(["libcairo2-dev"]), .brew(["cairo"])]
        ),
        .target(name: "NablaFigures", dependencies: ["NablaCore", "CCairo"], swiftSettings: releaseFlags),
        .target(name: "NablaTUI", dependencies: ["NablaCore", "NablaFigures"], swiftSettings: releaseFlags),
        .systemLibrary(
            name: "CNcursesw",
            providers: [.apt(["libncurses-dev"]), .brew(["ncurses"])]
        ),
        .target(name: "NablaTerminal", dependencies: ["NablaTUI", "CNcursesw"], swiftSettings: releaseFlags),
        .executableTarget(
            name: "nabla",
            dependencies: [
                "NablaCore", "NablaTUI", "NablaTerminal", "NablaFigures",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: releaseFlags
        ),
        .testTarget(name: "NablaCoreTests", dependencies: ["NablaCore"]),
        .testTarget(name: "NablaFiguresTests", dependencies: ["NablaFigures", "NablaCore"]),
        .testTarget(name: "NablaTUITests", dependencies: ["NablaTUI", "NablaCore"], exclude: ["Snapshots"]),
        .testTarget(name: "NablaTerminalTests", dependencies: ["NablaTerminal", "NablaTUI", "CNcursesw"]),
        .testTarget(name: "nablaTests", dependencies: ["nabla", "NablaCore"]),
    ]
)
