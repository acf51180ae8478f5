import ArgumentParser
import EmberELF
import EmberSystem
import EmberUnwinding

/// `ember unwind-table`: compiles files' unwind tables as `record --unwind auto` does for
/// the kernel's walk, and prints their size and cost (or, with --rows, the rows).
struct UnwindTableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unwind-table",
        abstract: "Compile ELF files' unwind tables for the kernel's CFI walk and print their size.",
        shouldDisplay: false)

    @Flag(name: .long, help: "Print every row (pc, rule, CFA offset, rbp offset).")
    var rows = false

    @Argument(help: ArgumentHelp("ELF files.", valueName: "file"))
    var files: [String]

    func run() throws {
        for path in files {
            let started = Clock.monotonicSeconds()
            let file: ELFFile
            let table: UnwindTable
            do {
                file = try ELFFile(path: path)
                table = try UnwindTableCompiler.compile(file)
            } catch {
                throw ValidationError("\(error)")
            }
            let seconds = Clock.monotonicSeconds() - started
            var byRule: [UnwindRow.Rule: Int] = [:]
            for row in table.rows { byRule[row.rule, default: 0] += 1 }
            let rules = byRule.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("\(path): \(table.rows.count) rows (\(table.rows.count * 16) bytes), \(format3(seconds)) s; \(rules)")
            if rows {
                for row in table.rows {
                    print("  \(String(row.pc, radix: 16)) \(row.rule) cfa+\(row.cfaOffset) rbp\(row.rbpOffset)"
                        + (row.rule == .plt ? " threshold \(row.pltThreshold)" : ""))
                }
            }
        }
    }
}
