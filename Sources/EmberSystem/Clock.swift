#if canImport(Glibc)
import Glibc
#endif

/// The clocks ember reads: elapsed time, CPU time, and the wall clock that profiles record.
public enum Clock {
    /// Seconds on the monotonic clock (elapsed time, unaffected by changes to the date).
    public static func monotonicSeconds() -> Double {
        seconds(of: CLOCK_MONOTONIC)
    }

    /// Nanoseconds on the monotonic clock: the clock of `bpf_ktime_get_ns`, so BPF timestamps
    /// and these compare directly.
    public static func monotonicNanoseconds() -> Int64 {
        nanoseconds(of: CLOCK_MONOTONIC)
    }

    /// Nanoseconds since the Unix epoch (the wall clock, as profiles record their start).
    public static func realtimeNanoseconds() -> Int64 {
        nanoseconds(of: CLOCK_REALTIME)
    }

    /// CPU seconds the calling thread has used.
    public static func threadCPUSeconds() -> Double {
        seconds(of: CLOCK_THREAD_CPUTIME_ID)
    }

    /// CPU seconds the whole process has used.
    public static func processCPUSeconds() -> Double {
        seconds(of: CLOCK_PROCESS_CPUTIME_ID)
    }

    private static func seconds(of clock: clockid_t) -> Double {
        var time = timespec()
        clock_gettime(clock, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private static func nanoseconds(of clock: clockid_t) -> Int64 {
        var time = timespec()
        clock_gettime(clock, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
