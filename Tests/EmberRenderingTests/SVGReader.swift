import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads back a rendered flame graph with a real XML parser: parsing fails on any
/// well-formedness error, and the frames come out with their geometry and full names.
final class SVGReader: NSObject, XMLParserDelegate {
    struct Frame: Equatable {
        var name: String
        var x: Double
        var width: Double
        var rowY: Double
        var fill: String
        var labelClass: String?
        var attributes: [String: String]
        /// Not drawn (narrower than a pixel): a line of its row's metadata; a sliver stands for it.
        var hidden = false
    }

    /// Every frame, drawn or not.
    private(set) var frames: [Frame] = []
    /// The "(N more)" slivers drawn for frames too narrow to draw.
    private(set) var slivers: [Frame] = []
    private(set) var elementCounts: [String: Int] = [:]
    private(set) var texts: [String: String] = [:]  // text of elements with an id
    private(set) var rootAttributes: [String: String] = [:]
    private(set) var error: Error?

    private var path: [(name: String, attributes: [String: String])] = []
    private var rowY = 0.0
    private var currentFrame: Frame?
    private var currentText: String?
    private var idText: (id: String, text: String)?
    private var metadata: String?

    /// Parses `bytes`; nil when the document is not well-formed XML.
    static func read(_ bytes: [UInt8]) -> SVGReader? {
        let reader = SVGReader()
        let parser = XMLParser(data: Data(bytes))
        parser.delegate = reader
        guard parser.parse(), reader.error == nil else { return nil }
        return reader
    }

    func frame(named name: String) -> Frame? { frames.first { $0.name == name } }

    func parser(
        _ parser: XMLParser, didStartElement element: String, namespaceURI: String?,
        qualifiedName: String?, attributes: [String: String] = [:]
    ) {
        elementCounts[element, default: 0] += 1
        if path.isEmpty { rootAttributes = attributes }
        let parent = path.last
        path.append((element, attributes))
        if element == "g", let transform = attributes["transform"], transform.hasPrefix("translate(0,") {
            rowY = Double(transform.dropFirst("translate(0,".count).dropLast()) ?? .nan
        }
        if element == "rect", parent?.name == "g", path.count >= 2, isFrameGroup() {
            currentFrame = Frame(
                name: "", x: Double(attributes["x"] ?? "") ?? .nan, width: Double(attributes["width"] ?? "") ?? .nan,
                rowY: rowY, fill: attributes["fill"] ?? "", labelClass: nil, attributes: attributes)
        }
        if element == "text", currentFrame != nil {
            currentText = ""
            currentFrame?.labelClass = attributes["class"]
        }
        if let id = attributes["id"], element == "text" || element == "desc" { idText = (id, "") }
        if element == "metadata" { metadata = "" }
    }

    /// Whether the innermost open `g` is a frame: inside a row inside `#frames`.
    private func isFrameGroup() -> Bool {
        guard path.count >= 4 else { return false }
        let row = path[path.count - 3]
        let frames = path[path.count - 4]
        return row.attributes["transform"] != nil && frames.attributes["id"] == "frames"
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if currentText != nil { currentText! += string }
        if metadata != nil { metadata! += string }
        if idText != nil { idText!.text += string }
    }

    func parser(
        _ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?
    ) {
        path.removeLast()
        if element == "text", let text = currentText, var frame = currentFrame {
            frame.name = text
            if path.last?.attributes["class"] == "run" { slivers.append(frame) } else { frames.append(frame) }
            currentFrame = nil
            currentText = nil
        }
        if element == "metadata", let lines = metadata {
            readHiddenFrames(lines)
            metadata = nil
        }
        if (element == "text" || element == "desc"), let (id, text) = idText {
            texts[id] = text
            idText = nil
        }
    }

    /// Lines "x width fill count [before after] name"; empty lines stand for drawn frames.
    private func readHiddenFrames(_ lines: String) {
        let differential = rootAttributes["data-differential"] == "1"
        for line in lines.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", maxSplits: differential ? 6 : 4, omittingEmptySubsequences: false)
            guard fields.count == (differential ? 7 : 5) else {
                error = NSError(domain: "SVGReader", code: 1, userInfo: [NSLocalizedDescriptionKey: "bad line \(line)"])
                return
            }
            var attributes = ["data-n": String(fields[3])]
            if differential {
                attributes["data-b"] = String(fields[4])
                attributes["data-a"] = String(fields[5])
            }
            frames.append(
                Frame(
                    name: String(fields[fields.count - 1]), x: Double(fields[0]) ?? .nan, width: Double(fields[1]) ?? .nan,
                    rowY: rowY, fill: String(fields[2]), labelClass: "h", attributes: attributes, hidden: true))
        }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { error = parseError }
}
