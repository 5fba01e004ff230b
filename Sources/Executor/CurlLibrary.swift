import CShim

/// libcurl is not linked but loaded at run time by the C shim (dlopen of libcurl.so.4, or of the file NEO_LIBCURL
/// names): its dependency tree would cost every start ~6 ms in the dynamic linker before `main`. `serve` loads it on a
/// thread of its own once it listens, so `listening` does not wait for it; the first call that needs libcurl
/// (`CurlClient.send`) waits for that load (or runs it), once. Making a client loads nothing.
public enum CurlLibrary {
    /// Loads libcurl and runs curl_global_init, once per process (a caller while another thread loads waits for it).
    /// Nil when libcurl is there, else why not: the library, the file tried and the loader's error. A failed load is
    /// not retried: calls that need libcurl fail with that message until the process restarts.
    @discardableResult
    public static func load() -> String? {
        guard let problem = cshim_curl_load() else { return nil }
        return String(cString: problem)
    }
}
