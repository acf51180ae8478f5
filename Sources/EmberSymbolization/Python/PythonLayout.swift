/// Where CPython keeps what a reader outside the process needs, in one minor version:
/// byte offsets of fields in its structures, for the kernel's frame walk and for naming
/// code objects.
///
/// The tables are facts read from CPython's headers of each version (offsetof against
/// `Include/internal/pycore_runtime.h`, `pycore_interp.h`, `pycore_frame.h`,
/// `cpython/pystate.h`, `cpython/code.h`, `cpython/unicodeobject.h` with `Py_BUILD_CORE`,
/// on x86-64, for 3.11.7, 3.12.1 and 3.13.0; Debian's 3.11.2 gives the same). 3.13 also
/// publishes its own in `_PyRuntime`'s `_Py_DebugOffsets`, which are read and checked
/// against the table (``mismatches(with:)``).
public struct PythonLayout: Sendable, Equatable {
    public var minor: Int
    /// `_PyRuntimeState.interpreters.head`
    public var interpretersHead: UInt32
    /// `PyInterpreterState.threads.head`
    public var threadsHead: UInt32
    /// `PyThreadState.next`, `.native_thread_id`
    public var threadNext: UInt32
    public var threadNativeID: UInt32
    /// `PyThreadState.cframe` (3.11, 3.12) or `.current_frame` (3.13)
    public var threadFrame: UInt32
    /// `_PyCFrame.current_frame`; nil where the thread state points at the frame itself.
    public var cframeCurrentFrame: UInt32?
    /// `_PyInterpreterFrame.f_code` (`f_executable` in 3.13), `.previous`,
    /// `.prev_instr` (`instr_ptr` in 3.13), `.owner`, `.is_entry` (3.11 only)
    public var frameCode: UInt32
    public var framePrevious: UInt32
    public var frameInstruction: UInt32
    public var frameOwner: UInt32
    public var frameIsEntry: UInt32?
    /// `PyCodeObject.co_filename`, `co_name`, `co_qualname`, `co_firstlineno` (an int),
    /// `co_linetable` (bytes), `co_code_adaptive` (the instructions)
    public var codeFilename: UInt32
    public var codeName: UInt32
    public var codeQualifiedName: UInt32
    public var codeFirstLine: UInt32
    public var codeLineTable: UInt32
    public var codeInstructions: UInt32
    /// `sizeof(PyASCIIObject)` and `sizeof(PyCompactUnicodeObject)`: where a compact
    /// string's characters start (ASCII, and otherwise).
    public var asciiObjectSize: UInt32
    public var compactUnicodeObjectSize: UInt32

    // The same in every version 3.11-3.13 (PyObject, PyVarObject, PyBytesObject, PyTypeObject).
    public static let objectType: UInt64 = 8
    public static let typeName: UInt64 = 24
    public static let unicodeLength: UInt64 = 16
    public static let unicodeState: UInt64 = 32
    public static let bytesSize: UInt64 = 16
    public static let bytesCharacters: UInt64 = 32

    /// The table of a minor version of CPython 3, nil for one ember does not know.
    public static func table(minor: Int) -> PythonLayout? {
        switch minor {
        case 11:
            return PythonLayout(
                minor: 11, interpretersHead: 40, threadsHead: 16, threadNext: 8, threadNativeID: 160,
                threadFrame: 56, cframeCurrentFrame: 8,
                frameCode: 32, framePrevious: 48, frameInstruction: 56, frameOwner: 69, frameIsEntry: 68,
                codeFilename: 112, codeName: 120, codeQualifiedName: 128, codeFirstLine: 72, codeLineTable: 136,
                codeInstructions: 184, asciiObjectSize: 48, compactUnicodeObjectSize: 72)
        case 12:
            return PythonLayout(
                minor: 12, interpretersHead: 40, threadsHead: 72, threadNext: 8, threadNativeID: 144,
                threadFrame: 56, cframeCurrentFrame: 0,
                frameCode: 0, framePrevious: 8, frameInstruction: 56, frameOwner: 70, frameIsEntry: nil,
                codeFilename: 112, codeName: 120, codeQualifiedName: 128, codeFirstLine: 68, codeLineTable: 136,
                codeInstructions: 192, asciiObjectSize: 40, compactUnicodeObjectSize: 56)
        case 13:
            return PythonLayout(
                minor: 13, interpretersHead: 632, threadsHead: 7344, threadNext: 8, threadNativeID: 160,
                threadFrame: 72, cframeCurrentFrame: nil,
                frameCode: 0, framePrevious: 8, frameInstruction: 56, frameOwner: 70, frameIsEntry: nil,
                codeFilename: 112, codeName: 120, codeQualifiedName: 128, codeFirstLine: 68, codeLineTable: 136,
                codeInstructions: 200, asciiObjectSize: 40, compactUnicodeObjectSize: 56)
        default:
            return nil
        }
    }

    /// The minor versions with a table.
    public static let knownMinorVersions = 11...13

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
            ("interpretersHead", 40), ("threadsHead", 72), ("threadNext", 168), ("threadFrame", 184),
            ("threadNativeID", 200), ("framePrevious", 232), ("frameCode", 240), ("frameInstruction", 248),
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
            "interpretersHead": UInt64(interpretersHead), "threadsHead": UInt64(threadsHead),
            "threadNext": UInt64(threadNext), "threadFrame": UInt64(threadFrame),
            "threadNativeID": UInt64(threadNativeID), "framePrevious": UInt64(framePrevious),
            "frameCode": UInt64(frameCode), "frameInstruction": UInt64(frameInstruction),
            "frameOwner": UInt64(frameOwner), "codeFilename": UInt64(codeFilename), "codeName": UInt64(codeName),
            "codeQualifiedName": UInt64(codeQualifiedName), "codeLineTable": UInt64(codeLineTable),
            "codeFirstLine": UInt64(codeFirstLine), "codeInstructions": UInt64(codeInstructions),
        ]
    }

    /// The fields where the table and a running interpreter's debug offsets disagree
    /// (empty: they agree), sorted.
    public func mismatches(with offsets: DebugOffsets) -> [String] {
        debugFields.filter { offsets.fields[$0.key] != $0.value }.map(\.key).sorted()
    }
}
