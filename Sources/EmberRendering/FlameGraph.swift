import Foundation
import EmberProfile

/// Options of a flame graph. (Placeholder: the renderer issue completes it.)
public struct FlameGraphOptions: Sendable {
    public var title: String = "Flame Graph"
    public var subtitle: String? = nil
    public var width: Int = 1200
    public init() {}
}

/// Renders profiles as self-contained SVG flame graphs.
public enum FlameGraph {
    /// The SVG document of `profile`.
    public static func svg(of profile: Profile, options: FlameGraphOptions = .init()) -> String {
        // Minimal placeholder renderer: one rect per merged frame.
        let total = max(profile.totalSamples, 1)
        var out = "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(options.width)\" height=\"400\">\n"
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        out += "<text x=\"10\" y=\"20\">\(esc(options.title))</text>\n"
        var x = 0.0
        for (frames, count) in profile.sortedStacks {
            let w = count / total * Double(options.width)
            for (depth, f) in frames.enumerated() {
                out += "<g><title>\(esc(f))</title><rect x=\"\(x)\" y=\"\(380 - depth * 16)\" width=\"\(w)\" height=\"15\" fill=\"orange\"/></g>\n"
            }
            x += w
        }
        return out + "</svg>\n"
    }
}
