import ArgumentParser
import EmberProfile
import EmberRendering

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render folded stacks from any profiler as an SVG flame graph.")

    func run() throws {
        throw ValidationError("not implemented yet")
    }
}
