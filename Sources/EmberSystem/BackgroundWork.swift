import Dispatch

/// Work started on another thread; `wait()` hands over its result or rethrows its error.
public final class BackgroundWork<Value>: @unchecked Sendable {
    private var result: Result<Value, Error>?
    private let done = DispatchSemaphore(value: 0)

    public init(on queue: DispatchQueue = .global(), _ work: @escaping () throws -> Value) {
        queue.async { [self] in
            result = Result(catching: work)
            done.signal()
        }
    }

    /// Whether the work is done: `wait()` returns at once.
    public var isFinished: Bool {
        guard done.wait(timeout: .now()) == .success else { return false }
        done.signal()
        return true
    }

    /// Hands the result over: keeping a copy here would make the caller's first change to
    /// a value with arrays copy them all.
    public func wait() throws -> Value {
        done.wait()
        return try result.take()!.get()
    }
}
