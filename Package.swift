// swift-tools-version:6.1
//
// ember: a Linux sampling profiler. The targets follow the pipeline:
//   EmberSampling (BPF + perf events) → EmberUnwinding → EmberSymbolization
//   → EmberProfile (the profile model: readers, writers, diff) → EmberRendering (SVG)
//   → EmberRecording (a recording session, as a library) → ember (the command line).
// Beside them: EmberSystem (clocks, files) and EmberELF (ELF files and their debug files,
// read by both the unwinder and the symbolizer).
import PackageDescription

let package = Package(
    name: "ember",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ember", targets: ["ember"]),
        .library(name: "EmberProfile", targets: ["EmberProfile"]),
        .library(name: "EmberRendering", targets: ["EmberRendering"]),
        .library(name: "EmberSymbolization", targets: ["EmberSymbolization"]),
        .library(name: "EmberUnwinding", targets: ["EmberUnwinding", "EmberELF"]),
        .library(name: "EmberRecording", targets: ["EmberRecording"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(
            name: "CLibBPF", pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev"])]),
        .systemLibrary(
            name: "CLibElf", pkgConfig: "libdw",
            providers: [.apt(["libelf-dev", "libdw-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // Whole-buffer DEFLATE, for compressed debug sections (faster than zlib's streams).
        .systemLibrary(
            name: "CLibDeflate", pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"])]),

        // The few things Swift cannot call directly (variadic syscall(), fork+exec,
        // signal flags), plus the map layout shared with the BPF program.
        .target(name: "CEmberShim", dependencies: ["CLibBPF"]),
        // C++ (__cxa_demangle) and Swift (libswiftDemangle.so) demangling for symbolization.
        .target(
            name: "CEmberDemangle",
            linkerSettings: [.linkedLibrary("stdc++"), .linkedLibrary("dl")]),

        // Clocks, whole-file reads, output files written whole or not at all.
        .target(name: "EmberSystem"),
        // ELF files and where their debug files are: shared by unwinding and symbolization.
        .target(name: "EmberELF", dependencies: ["CLibElf", "CLibDeflate", "CZlib"]),

        // Stage 1: sampling. The BPF program in BPF/ is compiled by the BPFCompiler plugin.
        .target(
            name: "EmberSampling",
            dependencies: ["CLibBPF", "CEmberShim", "EmberSystem"],
            exclude: ["BPF"],
            plugins: ["BPFCompiler"]),
        // Stage 2: unwinding (raw addresses → call stacks).
        .target(
            name: "EmberUnwinding",
            dependencies: ["EmberSampling", "CEmberShim", "CLibElf", "EmberELF", "EmberSystem"]),
        // Stage 3: symbolization (addresses → names).
        .target(
            name: "EmberSymbolization",
            dependencies: ["CLibElf", "CEmberDemangle", "EmberELF", "EmberSystem"]),
        // Stage 4: the profile model, its readers and writers (folded, pprof, speedscope,
        // perf script), the merged call tree and the comparison of two profiles.
        .target(name: "EmberProfile", dependencies: ["CZlib", "EmberSystem"]),
        // Stage 5: rendering (SVG flame graphs of a call tree).
        .target(name: "EmberRendering", dependencies: ["EmberProfile", "EmberSystem"]),
        // Stage 6: a recording session: sampling → unwinding → symbolization → profile.
        .target(
            name: "EmberRecording",
            dependencies: [
                "CEmberShim", "EmberSampling", "EmberUnwinding", "EmberSymbolization", "EmberProfile",
                "EmberSystem",
            ]),
        // Stage 7: the command line (options and report text).
        .executableTarget(
            name: "ember",
            dependencies: [
                "EmberRecording", "EmberSampling", "EmberUnwinding", "EmberSymbolization", "EmberProfile",
                "EmberRendering", "EmberELF", "EmberSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .plugin(name: "BPFCompiler", capability: .buildTool()),

        .target(name: "EmberTestSupport", path: "Tests/EmberTestSupport"),
        .testTarget(name: "EmberSystemTests", dependencies: ["EmberSystem"]),
        .testTarget(name: "EmberProfileTests", dependencies: ["EmberProfile", "EmberTestSupport"]),
        .testTarget(name: "EmberRenderingTests", dependencies: ["EmberRendering", "EmberProfile"]),
        .testTarget(name: "EmberUnwindingTests", dependencies: ["EmberUnwinding", "EmberELF", "EmberSystem", "EmberTestSupport"]),
        .testTarget(name: "EmberSymbolizationTests",
                    dependencies: ["EmberSymbolization", "EmberELF", "CLibElf", "EmberSystem", "EmberTestSupport"]),
        .testTarget(name: "EmberRecordingTests", dependencies: [
            "EmberRecording", "EmberProfile", "EmberSampling", "EmberSymbolization", "EmberUnwinding", "EmberTestSupport",
        ]),
        // End to end: runs the built `ember` binary on the sample workloads.
        .testTarget(
            name: "EmberRecordTests",
            dependencies: [
                "CEmberShim", "CLibBPF", "EmberSampling", "EmberUnwinding", "EmberELF", "EmberSystem", "EmberTestSupport",
            ]),
    ],
    swiftLanguageModes: [.v5]
)
