#if canImport(Glibc)
import Glibc
#endif

/// Seconds on a monotonic clock (CLOCK_MONOTONIC): for durations and deadlines, never for dates.
public func monotonicNow() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}
