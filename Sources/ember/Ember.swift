import ArgumentParser

@main
struct Ember: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember",
        abstract: "A sampling profiler for Linux that draws flame graphs.",
        discussion: """
            Record a process, a command or the whole system with BPF, and write folded \
            stacks and interactive SVG flame graphs.
            """,
        version: "0.1.0",
        subcommands: [Record.self, Top.self, Report.self, Render.self, Diff.self, Convert.self, Symbolize.self,
                      UnwindTableCommand.self])
}
