// swift-tools-version:6.1
//
// Coverage-guided fuzz targets (libFuzzer, with AddressSanitizer) for every parser of outside
// input. A package of its own, built only with the fuzzer's flags, which scripts/fuzz passes:
//   swift build --package-path Fuzz -Xswiftc -sanitize=fuzzer,address
import PackageDescription

let package = Package(
    name: "EmberFuzz",
    dependencies: [.package(name: "ember", path: "..")],
    targets: [
        .target(name: "CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"]),
        .executableTarget(name: "FuzzFolded", dependencies: ["FuzzSupport",
            .product(name: "EmberProfile", package: "ember"), .product(name: "EmberRendering", package: "ember"),
        ]),
        .executableTarget(name: "FuzzPerfScript", dependencies: ["FuzzSupport",
            .product(name: "EmberProfile", package: "ember"), .product(name: "EmberRendering", package: "ember"),
        ]),
        .executableTarget(name: "FuzzPprof", dependencies: ["FuzzSupport",
            .product(name: "EmberProfile", package: "ember"), .product(name: "EmberRendering", package: "ember"),
        ]),
        .executableTarget(name: "FuzzMaps", dependencies: ["FuzzSupport", .product(name: "EmberSymbolization", package: "ember")]),
        .executableTarget(name: "FuzzPerfMap", dependencies: ["FuzzSupport", .product(name: "EmberSymbolization", package: "ember")]),
        .executableTarget(name: "FuzzKallsyms", dependencies: ["FuzzSupport", .product(name: "EmberSymbolization", package: "ember")]),
        .executableTarget(name: "FuzzELF", dependencies: ["FuzzSupport",
            .product(name: "EmberSymbolization", package: "ember"), .product(name: "EmberUnwinding", package: "ember"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
