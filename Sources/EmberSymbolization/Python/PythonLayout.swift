/// Where CPython keeps what a reader outside the process needs, in one minor version:
/// byte offsets of fields in its structures, for the kernel's frame walk and for naming
/// code objects.
///
/// The tables are facts read from CPython's headers of each version (offsetof against
/// `Include/internal/pycore_runtime.h`, `pycore_interp.h`, `pycore_frame.h`,
/// `cpython/pystate.h`, `cpython/code.h`, `cpython/unicodeobject.h` with `Py_BUILD_CORE`,
/// on x86-64, for 3.11.7, 3.12.1 and 3.13.0; Debian's 3.11.2 gives the same; for 3.8.18,
/// 3.9.18 and 3.10.13 the same against their `frameobject.h`, `code.h`,
/// `internal/pycore_pystate.h` (3.8) or `pycore_runtime.h` and `pycore_interp.h`). 3.13 also
/// publishes its own in `_PyRuntime`'s `_Py_DebugOffsets`, which are read and checked
/// against the table (``mismatches(with:)``).
public struct PythonLayout: Sendable, Equatable {
    public var minor: Int
    /// `_PyRuntimeState.interpreters.head`
    public var interpretersHead: UInt32
    /// `PyInterpreterState.next`: the interpreters are a list, the newest first, the main
    /// one last.
    public var interpreterNext: UInt32
    /// `PyInterpreterState.threads.head` (`tstate_head` before 3.11)
    public var threadsHead: UInt32
    /// `PyThreadState.next`, and `.thread_id`, what identifies the thread: its
    /// `pthread_self()`, on x86-64 glibc and musl the thread's fs base. Not
    /// `.native_thread_id` (3.11+): that is its tid in the process's own pid namespace, which
    /// in a container is not the kernel's.
    public var threadNext: UInt32
    public var threadID: UInt32
    /// `PyThreadState.cframe` (3.11, 3.12), `.current_frame` (3.13) or `.frame` (before)
    public var threadFrame: UInt32
    /// `_PyCFrame.current_frame`; nil where the thread state points at the frame itself.
    public var cframeCurrentFrame: UInt32?
    /// `_PyInterpreterFrame.f_code` (`f_executable` in 3.13), `.previous`,
    /// `.prev_instr` (`instr_ptr` in 3.13), `.owner`, `.is_entry` (3.11 only); before 3.11
    /// `PyFrameObject.f_code`, `.f_back`, `.f_lasti` (an int), no owner
    public var frameCode: UInt32
    public var framePrevious: UInt32
    public var frameInstruction: UInt32
    public var frameOwner: UInt32?
    public var frameIsEntry: UInt32?
    /// `PyCodeObject.co_filename`, `co_name`, `co_qualname` (3.11+), `co_firstlineno` (an
    /// int), `co_linetable` (`co_lnotab` in 3.8, 3.9; bytes), `co_code_adaptive` (the
    /// instructions, 3.11+)
    public var codeFilename: UInt32
    public var codeName: UInt32
    public var codeQualifiedName: UInt32?
    public var codeFirstLine: UInt32
    public var codeLineTable: UInt32
    public var codeInstructions: UInt32?
    /// `sizeof(PyASCIIObject)` and `sizeof(PyCompactUnicodeObject)`: where a compact
    /// string's characters start (ASCII, and otherwise).
    public var asciiObjectSize: UInt32
    public var compactUnicodeObjectSize: UInt32

    /// What the frame chain is made of.
    public enum FrameChain: Sendable, Equatable {
        /// 3.11+: `_PyInterpreterFrame`s, one or more per activation of the interpreter's
        /// loop; a frame's instruction is a pointer into `co_code_adaptive`.
        case interpreterFrames
        /// 3.8-3.10: `PyFrameObject`s, each run by its own activation; a frame's instruction
        /// is `f_lasti`, an int: a byte offset in 3.8 and 3.9, code units in 3.10, -1 before
        /// the first instruction.
        case frameObjects
    }

    /// How `co_linetable` (or `co_lnotab`) maps instructions to lines.
    public enum LineTableFormat: Sendable, Equatable {
        /// 3.8, 3.9: `co_lnotab`, (byte offset increment, signed line increment) pairs.
        case lnotab
        /// 3.10: (unsigned byte length, signed line delta, -128: no line) pairs.
        case lineTable310
        /// 3.11+: CPython's Objects/locations.md entries.
        case locations
    }

    public var frameChain: FrameChain { minor >= 11 ? .interpreterFrames : .frameObjects }
    public var lineTableFormat: LineTableFormat {
        minor >= 11 ? .locations : minor == 10 ? .lineTable310 : .lnotab
    }

    /// The bytes one unit of a `.frameObjects` frame's `f_lasti` stands for: 2-byte code
    /// units in 3.10, bytes before.
    public var lastInstructionUnit: Int { minor >= 10 ? 2 : 1 }

    /// The byte offset in `co_code` of a `.frameObjects` frame's `f_lasti`; nil before its
    /// first instruction.
    public func instructionOffset(lastInstruction: Int32) -> Int? {
        guard lastInstruction >= 0 else { return nil }
        return Int(lastInstruction) * lastInstructionUnit
    }

    // The same in every version 3.8-3.13 (PyObject, PyVarObject, PyBytesObject, PyTypeObject).
    public static let objectType: UInt64 = 8
    public static let typeName: UInt64 = 24
    public static let unicodeLength: UInt64 = 16
    public static let unicodeState: UInt64 = 32
    public static let bytesSize: UInt64 = 16
    public static let bytesCharacters: UInt64 = 32

    /// The table of a minor version of CPython 3, nil for one ember does not know.
    public static func table(minor: Int) -> PythonLayout? {
        switch minor {
        case 8, 9:
            return PythonLayout(
                minor: minor, interpretersHead: 32, interpreterNext: 0, threadsHead: 8, threadNext: 8, threadID: 176,
                threadFrame: 24, cframeCurrentFrame: nil,
                frameCode: 32, framePrevious: 24, frameInstruction: 104, frameOwner: nil, frameIsEntry: nil,
                codeFilename: 104, codeName: 112, codeQualifiedName: nil, codeFirstLine: 40, codeLineTable: 120,
                codeInstructions: nil, asciiObjectSize: 48, compactUnicodeObjectSize: 72)
        case 10:
            return PythonLayout(
                minor: 10, interpretersHead: 32, interpreterNext: 0, threadsHead: 8, threadNext: 8, threadID: 176,
                threadFrame: 24, cframeCurrentFrame: nil,
                frameCode: 32, framePrevious: 24, frameInstruction: 96, frameOwner: nil, frameIsEntry: nil,
                codeFilename: 104, codeName: 112, codeQualifiedName: nil, codeFirstLine: 40, codeLineTable: 120,
                codeInstructions: nil, asciiObjectSize: 48, compactUnicodeObjectSize: 72)
        case 11:
            return PythonLayout(
                minor: 11, interpretersHead: 40, interpreterNext: 0, threadsHead: 16, threadNext: 8, threadID: 152,
                threadFrame: 56, cframeCurrentFrame: 8,
                frameCode: 32, framePrevious: 48, frameInstruction: 56, frameOwner: 69, frameIsEntry: 68,
                codeFilename: 112, codeName: 120, codeQualifiedName: 128, codeFirstLine: 72, codeLineTable: 136,
                codeInstructions: 184, asciiObjectSize: 48, compactUnicodeObjectSize: 72)
        case 12:
            return PythonLayout(
                minor: 12, interpretersHead: 40, interpreterNext: 0, threadsHead: 72, threadNext: 8, threadID: 136,
                threadFrame: 56, cframeCurrentFrame: 0,
                frameCode: 0, framePrevious: 8, frameInstruction: 56, frameOwner: 70, frameIsEntry: nil,
                codeFilename: 112, codeName: 120, codeQualifiedName: 128, codeFirstLine: 68, codeLineTable: 136,
                codeInstructions: 192, asciiObjectSize: 40, compactUnicodeObjectSize: 56)
        case 13:
            return PythonLayout(
                minor: 13, interpretersHead: 632, interpreterNext: 7264, threadsHead: 7344, threadNext: 8, threadID: 152,
                threadFrame: 72, cframeCurrentFrame: nil,
                frameCode: 0, framePrevious: 8, frameInstruction: 56, frameOwner: 70, frameIsEntry: nil,
                codeFilename: 112, codeName: 120, codeQualifiedName: 128, codeFirstLine: 68, codeLineTable: 136,
                codeInstructions: 200, asciiObjectSize: 40, compactUnicodeObjectSize: 56)
        default:
            return nil
        }
    }

    /// The minor versions with a table.
    public static let knownMinorVersions = 8...13

    /// The fields `_Py_DebugOffsets` (3.13+, at the start of `_PyRuntime`) gives, each at its
    /// offset in that structure (3.13's `Include/internal/pycore_runtime.h`).
    public struct DebugOffsets: Sendable, Equatable {
        public static let cookie = Array("xdebugpy".utf8)
        /// Bytes of the structure read (up to `code_object.co_code_adaptive`).
        public static let size = 352

        public var version: UInt64
        public var freeThreaded: Bool
        public var fields: [String: UInt64]

        static let positions: [(String, Int)] = [
            ("interpretersHead", 40), ("interpreterNext", 64), ("threadsHead", 72), ("threadNext", 168), ("threadFrame", 184),
            ("threadID", 192), ("framePrevious", 232), ("frameCode", 240), ("frameInstruction", 248),
            ("frameOwner", 264), ("codeFilename", 280), ("codeName", 288), ("codeQualifiedName", 296),
            ("codeLineTable", 304), ("codeFirstLine", 312), ("codeInstructions", 344),
        ]

        /// Parses the first ``size`` bytes of `_PyRuntime`; nil without the cookie.
        public init?(bytes: [UInt8]) {
            guard bytes.count >= Self.size, Array(bytes[0..<8]) == Self.cookie else { return nil }
            func word(_ offset: Int) -> UInt64 {
                bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
            }
            version = word(8)
            freeThreaded = word(16) != 0
            fields = Dictionary(uniqueKeysWithValues: Self.positions.map { ($0.0, word($0.1)) })
        }
    }

    /// The fields the debug offsets give, as this layout has them.
    var debugFields: [String: UInt64] {
        [
            "interpretersHead": UInt64(interpretersHead), "interpreterNext": UInt64(interpreterNext),
            "threadsHead": UInt64(threadsHead),
            "threadNext": UInt64(threadNext), "threadFrame": UInt64(threadFrame),
            "threadID": UInt64(threadID), "framePrevious": UInt64(framePrevious),
            "frameCode": UInt64(frameCode), "frameInstruction": UInt64(frameInstruction),
            "frameOwner": frameOwner.map(UInt64.init) ?? .max, "codeFilename": UInt64(codeFilename),
            "codeName": UInt64(codeName), "codeQualifiedName": codeQualifiedName.map(UInt64.init) ?? .max,
            "codeLineTable": UInt64(codeLineTable), "codeFirstLine": UInt64(codeFirstLine),
            "codeInstructions": codeInstructions.map(UInt64.init) ?? .max,
        ]
    }

    /// The fields where the table and a running interpreter's debug offsets disagree
    /// (empty: they agree), sorted.
    public func mismatches(with offsets: DebugOffsets) -> [String] {
        debugFields.filter { offsets.fields[$0.key] != $0.value }.map(\.key).sorted()
    }
}
