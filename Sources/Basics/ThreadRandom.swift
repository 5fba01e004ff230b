#if canImport(Glibc)
import Glibc
#endif

/// Fast random words for identifiers that must be unique, not secret (request ids, trace and span
/// ids): xoshiro256** per thread, seeded from the OS through OpenSSL, so no lock and no DRBG call
/// sits on the request path.
public final class ThreadRandom {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { if let p = $0 { Unmanaged<ThreadRandom>.fromOpaque(p).release() } }
        return key
    }()

    private init() {
        let seed = SecureRandom.bytes(32)
        func word(_ i: Int) -> UInt64 { seed[i * 8..<i * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) } | 1 }
        s = (word(0), word(1), word(2), word(3))
    }

    /// This thread's generator.
    public static var current: ThreadRandom {
        if let existing = pthread_getspecific(key) { return Unmanaged<ThreadRandom>.fromOpaque(existing).takeUnretainedValue() }
        let generator = ThreadRandom()
        pthread_setspecific(key, Unmanaged.passRetained(generator).toOpaque())
        return generator
    }

    public func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }
}
