// swift-tools-version:6.1
// The benchmarks live in their own package so that building or testing nabla never
// builds the benchmark tooling. Run from this folder:
//   swift package benchmark                       # every benchmark, figures per metric
//   swift package benchmark baseline update main  # record a baseline
//   swift package benchmark baseline compare main # compare the working tree with it
import PackageDescription

let package = Package(
    name: "nabla-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "nabla", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MaskEngine",
            dependencies: [
                .product(name: "NablaCore", package: "nabla"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/MaskEngine",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
