import EmberTestSupport
import Foundation
import XCTest

/// The README and each command's --help say the same things: every option the help lists
/// is in the command's README section with the same short form and default, and every
/// option the section names exists.
final class HelpTextTests: XCTestCase {
    struct HelpOption {
        var long: String
        var short: String?
        var defaultValue: String?
    }

    /// The options `ember COMMAND --help` lists (but --help and --version).
    private func helpOptions(_ command: String) throws -> [HelpOption] {
        let result = try ember([command, "--help"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let text = result.stdout
        // Titled option groups (`OFF-CPU AND WALL-CLOCK TIME:`) come before OPTIONS: all of them.
        let section = try XCTUnwrap(text.range(of: "\nUSAGE:"), text)
        var options: [HelpOption] = []
        let entry = try NSRegularExpression(pattern: #"^  (?:-(\w), )?--([a-z][a-z0-9-]*)"#)
        for line in text[section.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(line)
            let range = NSRange(line.startIndex..., in: line)
            if let match = entry.firstMatch(in: line, range: range) {
                let short = Range(match.range(at: 1), in: line).map { String(line[$0]) }
                options.append(HelpOption(long: String(line[Range(match.range(at: 2), in: line)!]), short: short))
            }
            // `(default: 10)`, or `(values: a, b; default: a)`.
            if let start = line.range(of: "(default: ") ?? line.range(of: "; default: "), let end = line[start.upperBound...].firstIndex(of: ")"),
               !options.isEmpty {
                options[options.count - 1].defaultValue = String(line[start.upperBound..<end])
            }
        }
        return options.filter { $0.long != "help" && $0.long != "version" }
    }

    /// The README's `### ember COMMAND` section, to the next heading.
    private func readmeSection(_ command: String) throws -> String {
        let readme = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try XCTUnwrap(readme.range(of: "\n### ember \(command)\n"), "no README section for \(command)")
        let rest = readme[start.upperBound...]
        return String(rest[..<(rest.range(of: "\n#")?.lowerBound ?? rest.endIndex)])
    }

    private func check(_ command: String) throws {
        let options = try helpOptions(command)
        XCTAssertFalse(options.isEmpty)
        let readme = try readmeSection(command)
        // The README's paragraphs (list items), each mentioning some options.
        let paragraphs = readme.components(separatedBy: "\n- ")
        for option in options {
            let flag = "`--\(option.long)"
            let spelled = option.short.map { "`-\($0)/--\(option.long)" } ?? flag
            let mentions = paragraphs.filter { $0.contains(flag) || $0.contains("/--\(option.long)") }
            XCTAssertFalse(mentions.isEmpty, "\(command): --\(option.long) is not in the README")
            if option.short != nil {
                XCTAssertTrue(readme.contains(spelled), "\(command): the README does not spell \(spelled)`")
            }
            // Values the parser prints (`(default: 10)`), not defaults said in words.
            if let value = option.defaultValue, !value.contains(" ") {
                XCTAssertTrue(mentions.contains { $0.contains("default \(value)") || $0.contains("default `\(value)`") },
                              "\(command): the README does not give --\(option.long)'s default \(value)")
            }
        }
        // Every option the section names exists.
        let named = try NSRegularExpression(pattern: #"`(?:-\w/)?--([a-z][a-z0-9-]*)"#)
        let known = Set(options.map(\.long))
        for match in named.matches(in: readme, range: NSRange(readme.startIndex..., in: readme)) {
            let name = String(readme[Range(match.range(at: 1), in: readme)!])
            XCTAssertTrue(known.contains(name), "\(command): the README names --\(name), which --help does not list")
        }
    }

    /// A line continuation escaped (`\\` at a line end of a Swift literal) shows in the help.
    func testNoHelpShowsAStrayBackslash() throws {
        for command in ["record", "top", "report", "render", "diff", "convert", "symbolize"] {
            let help = try ember([command, "--help"]).stdout
            XCTAssertFalse(help.split(separator: "\n").contains { $0.hasSuffix("\\") }, "\(command) --help:\n\(help)")
        }
    }

    func testRecordHelpAndReadmeAgree() throws { try check("record") }

    func testReportHelpAndReadmeAgree() throws { try check("report") }

    func testTopHelpAndReadmeAgree() throws { try check("top") }
}
