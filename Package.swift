// swift-tools-version:6.1
//
// ember: a Linux sampling profiler. The targets follow the pipeline:
//   EmberSampling (BPF + perf events) → EmberUnwinding → EmberSymbolization
//   → EmberProfile (folded stacks) → EmberRendering (SVG) → ember (CLI).
import PackageDescription

let package = Package(
    name: "ember",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ember", targets: ["ember"]),
        .library(name: "EmberProfile", targets: ["EmberProfile"]),
        .library(name: "EmberRendering", targets: ["EmberRendering"]),
        .library(name: "EmberSymbolization", targets: ["EmberSymbolization"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(
            name: "CLibBPF", pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev"])]),
        .systemLibrary(
            name: "CLibElf", pkgConfig: "libdw",
            providers: [.apt(["libelf-dev", "libdw-dev"])]),

        // The few things Swift cannot call directly (variadic syscall(), fork+exec,
        // signal flags), plus the map layout shared with the BPF program.
        .target(name: "CEmberShim", dependencies: ["CLibBPF"]),
        // C++ (__cxa_demangle) and Swift (libswiftDemangle.so) demangling for symbolization.
        .target(
            name: "CEmberDemangle",
            linkerSettings: [.linkedLibrary("stdc++"), .linkedLibrary("dl")]),

        // Stage 1: sampling. The BPF program in BPF/ is compiled by the BPFCompiler plugin.
        .target(
            name: "EmberSampling",
            dependencies: [
                "CLibBPF", "CEmberShim",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["BPF"],
            plugins: ["BPFCompiler"]),
        // Stage 2: unwinding (raw addresses → call stacks).
        .target(name: "EmberUnwinding", dependencies: ["EmberSampling", "CEmberShim", "CLibElf"]),
        // Stage 3: symbolization (addresses → names).
        .target(
            name: "EmberSymbolization",
            dependencies: [
                "CLibElf", "CEmberDemangle",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // Stage 4: profiles (folded stacks, merging, diff).
        .target(name: "EmberProfile"),
        // Stage 5: rendering (SVG flame graphs).
        .target(name: "EmberRendering", dependencies: ["EmberProfile"]),
        // Stage 6: the command line.
        .executableTarget(
            name: "ember",
            dependencies: [
                "EmberSampling", "EmberUnwinding", "EmberSymbolization", "EmberProfile",
                "EmberRendering",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .plugin(name: "BPFCompiler", capability: .buildTool()),

        .testTarget(name: "EmberProfileTests", dependencies: ["EmberProfile"]),
        .testTarget(name: "EmberRenderingTests", dependencies: ["EmberRendering", "EmberProfile"]),
        .target(name: "EmberTestSupport", path: "Tests/EmberTestSupport"),
        .testTarget(name: "EmberSymbolizationTests", dependencies: ["EmberSymbolization", "EmberTestSupport"]),
        // End to end: runs the built `ember` binary on the sample workloads.
        .testTarget(
            name: "EmberRecordTests", dependencies: ["CEmberShim", "EmberSampling", "EmberUnwinding", "EmberTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
