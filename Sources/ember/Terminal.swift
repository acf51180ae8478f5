#if canImport(Glibc)
import Glibc
#endif

/// The terminal of a full-screen view, and the one owner of its settings: raw input (keys
/// without Enter, no echo), the alternate screen, the cursor hidden; all put back by
/// ``restore()``, which runs however the view ends (q, Ctrl-C, an error).
final class Terminal {
    private var original = termios()
    /// Until the terminal is taken over, there is nothing to put back.
    private var restored = true

    /// A key the view acts on.
    enum Key: Equatable {
        case character(Character)
        case up, down, enter, escape, backspace
    }

    /// Takes over the terminal on standard input and output; throws if either is not one.
    init() throws {
        guard isatty(0) != 0, isatty(1) != 0, tcgetattr(0, &original) == 0 else {
            throw EmberError("top needs a terminal (to write a file, use ember record -o FILE; then ember report FILE)")
        }
        var raw = original
        // Keys as they are typed, unechoed; reads return at once. Ctrl-C still raises SIGINT,
        // which ends the view; Ctrl-Z is off, so the shell never gets a terminal left raw.
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
            cc[Int(VSUSP)] = 0
        }
        tcsetattr(0, TCSANOW, &raw)
        restored = false
        write("\u{1B}[?1049h\u{1B}[?25l")
    }

    deinit { restore() }

    /// Puts the terminal back as it was. Safe to call more than once.
    func restore() {
        guard !restored else { return }
        restored = true
        write("\u{1B}[?25h\u{1B}[?1049l")
        tcsetattr(0, TCSANOW, &original)
    }

    /// Rows and columns now (80 by 24 if the terminal does not say).
    func size() -> (rows: Int, columns: Int) {
        var window = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &window) == 0, window.ws_row > 0, window.ws_col > 0 else { return (24, 80) }
        return (Int(window.ws_row), Int(window.ws_col))
    }

    /// The keys typed since the last call.
    func keys() -> [Key] {
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(0, &buffer, buffer.count)
        guard count > 0 else { return [] }
        var keys: [Key] = []
        var index = 0
        while index < count {
            let byte = buffer[index]
            index += 1
            switch byte {
            case 0x1B:
                if index + 1 < count, buffer[index] == UInt8(ascii: "[") || buffer[index] == UInt8(ascii: "O") {
                    let final = buffer[index + 1]
                    index += 2
                    if final == UInt8(ascii: "A") { keys.append(.up) } else if final == UInt8(ascii: "B") { keys.append(.down) }
                } else {
                    keys.append(.escape)
                }
            case 10, 13: keys.append(.enter)
            case 8, 127: keys.append(.backspace)
            case 0x20...0x7E: keys.append(.character(Character(Unicode.Scalar(byte))))
            default: break
            }
        }
        return keys
    }

    /// Draws `lines` from the top left, each cleared to its end, and clears below them.
    func draw(_ lines: [String]) {
        write("\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\r\n") + "\u{1B}[J")
    }

    private func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(1, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { if errno == EINTR { continue }; return }
                offset += written
            }
        }
    }
}
