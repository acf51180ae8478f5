import ArgumentParser

/// Where debug information is looked for and how names are shown: shared by `record` and
/// `symbolize`.
struct NameOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Also look for debug files under this directory (as under /usr/lib/debug). Repeatable.",
        valueName: "dir"))
    var debugDir: [String] = []

    @Flag(name: .long, help: "Keep C++, Rust and Swift names as mangled.")
    var noDemangle = false
}
