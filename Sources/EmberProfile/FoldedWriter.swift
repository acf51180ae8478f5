/// Writes profiles as collapsed ("folded") stacks: `root;caller;leaf COUNT`, one line per
/// distinct stack, sorted, the format that flamegraph.pl, inferno and speedscope read.
public enum FoldedWriter {
    /// The folded text of `profile`, one line per stack, sorted, each line ending in `\n`.
    public static func text(of profile: Profile) -> String {
        var out = ""
        for (frames, count) in profile.sortedStacks {
            out += line(frames: frames, count: count)
            out += "\n"
        }
        return out
    }

    /// One folded line without its newline.
    public static func line(frames: [String], count: Double) -> String {
        frames.map(sanitize).joined(separator: ";") + " " + format(count)
    }

    /// Makes a frame name safe for the format: `;` separates frames and a line break
    /// ends the stack, so both are replaced (as the stack collapsers do).
    public static func sanitize(_ frame: String) -> String {
        guard frame.utf8.contains(where: { $0 == UInt8(ascii: ";") || $0 == 10 || $0 == 13 }) else {
            return frame
        }
        var result = ""
        for scalar in frame.unicodeScalars {
            switch scalar {
            case ";": result.append(":")
            case "\n", "\r": result.append(" ")
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Integers print without a fraction; fractional counts keep theirs.
    public static func format(_ count: Double) -> String {
        if count == count.rounded(), abs(count) < 1e15 { return String(Int64(count)) }
        return String(count)
    }
}
