#if canImport(Glibc)
import Glibc
#endif

/// Writes all of `bytes` to `fd`, again after a short write or EINTR. False when write(2) fails (EPIPE: the reader
/// has gone; `errno` says why); the caller decides whether that matters.
@discardableResult
public func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return false }
    }
    return true
}
