import Dispatch

/// Work started on another thread; `wait()` hands over its result or rethrows its error.
public final class BackgroundWork<Value>: @unchecked Sendable {
    private var result: Result<Value, Error>?
    private let done = DispatchSemaphore(value: 0)

    public init(_ work: @escaping () throws -> Value) {
        DispatchQueue.global().async { [self] in
            result = Result(catching: work)
            done.signal()
        }
    }

    /// Hands the result over: keeping a copy here would make the caller's first change to
    /// a value with arrays copy them all.
    public func wait() throws -> Value {
        done.wait()
        return try result.take()!.get()
    }
}
