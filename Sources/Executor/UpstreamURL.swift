import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An absolute http(s) URL split into the parts the SSRF guard compares. Parsing is deliberately
/// stricter than RFC 3986: no userinfo, no fragments, no backslashes, no non-ASCII, and numeric
/// hosts only in canonical dotted-quad or bracketed IPv6 form, so what we check is what curl sends.
public struct UpstreamURL: Sendable, Equatable {
    /// `http` or `https`, lowercased.
    public let scheme: String
    /// Lowercased host; IPv6 literals without brackets.
    public let host: String
    /// The explicit port, or the scheme's default.
    public let port: Int
    /// Whether the port was written out (kept so the URL renders as configured).
    public let explicitPort: Bool
    /// The path, always starting with `/`, still percent-encoded as written.
    public let path: String
    /// The raw query after `?`, if any.
    public let query: String?

    public var isIPv6Literal: Bool { host.utf8.contains(0x3a) }
    /// The host as written in a URL (`[::1]` for IPv6).
    public var hostForURL: String { isIPv6Literal ? "[\(host)]" : host }
    /// scheme://host:port, with the port always spelled out: what "same origin" compares.
    public var origin: String { "\(scheme)://\(hostForURL):\(port)" }

    public var string: String {
        var s = "\(scheme)://\(hostForURL)"
        if explicitPort { s += ":\(port)" }
        s += path
        if let query { s += "?" + query }
        return s
    }

    public init(scheme: String, host: String, port: Int, explicitPort: Bool, path: String, query: String?) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.explicitPort = explicitPort
        self.path = path
        self.query = query
    }

    /// Parses `text`, or returns why it is not an acceptable upstream URL.
    public static func parse(_ text: String) -> Result<UpstreamURL, URLProblem> {
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            return .failure(.init("must be ASCII without spaces or control characters (percent-encode them)"))
        }
        if text.utf8.contains(0x5c) { return .failure(.init("must not contain a backslash")) }
        if text.utf8.contains(0x23) { return .failure(.init("must not contain a fragment ('#')")) }
        let scheme: String
        if asciiHasPrefix(text, "https://") { scheme = "https" } else if asciiHasPrefix(text, "http://") { scheme = "http" } else {
            return .failure(.init("must be an absolute http:// or https:// URL"))
        }
        let rest = text.dropFirst(scheme.count + 3)
        // Byte-level scans throughout: Character iteration (grapheme breaking) dominated invoke profiles.
        let authorityEnd = rest.utf8.firstIndex(where: { $0 == 0x2f || $0 == 0x3f }) ?? rest.endIndex
        let authority = rest[rest.startIndex..<authorityEnd]
        var tail = String(rest[authorityEnd...])
        if authority.utf8.contains(0x40) { return .failure(.init("must not contain userinfo ('user@host')")) }
        if authority.isEmpty { return .failure(.init("has no host")) }

        var host: String
        var portText: Substring?
        if authority.utf8.first == 0x5b {
            guard let close = authority.utf8.firstIndex(of: 0x5d) else { return .failure(.init("has an unterminated IPv6 literal")) }
            host = asciiLowercased(String(authority[authority.index(after: authority.startIndex)..<close]))
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.utf8.first == 0x3a else { return .failure(.init("has garbage after the IPv6 literal")) }
                portText = after.dropFirst()
            }
            guard let bytes = IPAddress.parseIPv6(host) else { return .failure(.init("has an invalid IPv6 literal '\(host)'")) }
            host = IPAddress(bytes: bytes).text
        } else {
            let colons = authority.utf8.reduce(0) { $0 + ($1 == 0x3a ? 1 : 0) }
            guard colons <= 1 else { return .failure(.init("has more than one ':' in its host")) }
            if let colon = authority.utf8.firstIndex(of: 0x3a) {
                host = asciiLowercased(String(authority[..<colon]))
                portText = authority[authority.index(after: colon)...]
            } else {
                host = asciiLowercased(String(authority))
            }
            if let problem = hostProblem(host) { return .failure(.init(problem)) }
        }
        var port = scheme == "https" ? 443 : 80
        if let portText {
            guard !portText.isEmpty, portText.utf8.count <= 5, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let p = Int(portText), (1...65535).contains(p) else {
                return .failure(.init("has an invalid port '\(portText)'"))
            }
            port = p
        }
        var query: String?
        if let q = tail.utf8.firstIndex(of: 0x3f) {
            query = String(tail[tail.index(after: q)...])
            tail = String(tail[..<q])
        }
        return .success(UpstreamURL(scheme: scheme, host: host, port: port, explicitPort: portText != nil,
                                    path: tail.isEmpty ? "/" : tail, query: query))
    }

    /// Why a registered-name or IPv4 host is unacceptable, if it is. Hosts that look numeric must be a
    /// canonical dotted quad: `127.1`, `0x7f.0.0.1`, `2130706433` and `0177.0.0.1` all reach loopback
    /// in some resolver, so they are refused rather than interpreted.
    static func hostProblem(_ host: String) -> String? {
        guard !host.isEmpty, host.utf8.count <= 253 else { return "has an empty or over-long host" }
        guard host.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }) else {
            return "has invalid characters in its host '\(host)' (use letters, digits, '-', '.'; IDNs in punycode)"
        }
        let labels = host.utf8.split(separator: 0x2e, omittingEmptySubsequences: false)
        if labels.contains(where: \.isEmpty) { return "has an empty label in its host '\(host)'" }
        let last = labels.last!
        let looksNumeric = last.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) || (last.count >= 2 && last.first == 0x30 && last.dropFirst().first == 0x78)
        if looksNumeric && IPAddress.parseIPv4(host) == nil {
            return "has a non-canonical numeric host '\(host)'; write IPv4 addresses as four decimal octets"
        }
        return nil
    }
}

/// Whether `text` starts with the lowercase ASCII `prefix`, ignoring ASCII case.
func asciiHasPrefix(_ text: String, _ prefix: String) -> Bool {
    var it = text.utf8.makeIterator()
    for p in prefix.utf8 {
        guard let b = it.next(), (b >= 65 && b <= 90 ? b + 32 : b) == p else { return false }
    }
    return true
}

/// Why a URL was refused; the message completes "endpoint_url …" or "the URL …".
public struct URLProblem: Error, Equatable, Sendable {
    public let message: String
    init(_ message: String) { self.message = message }
}

/// An IPv4 or IPv6 address as bytes, with its textual form.
public struct IPAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 4 || bytes.count == 16)
        self.bytes = bytes
    }

    /// A literal address (`10.0.0.1`, `::1`), or nil.
    public init?(_ text: String) {
        if let b = IPAddress.parseIPv4(text) ?? IPAddress.parseIPv6(text) { self.init(bytes: b) } else { return nil }
    }

    public var isIPv6: Bool { bytes.count == 16 }
    public var description: String { text }

    /// inet_ntop's canonical text.
    public var text: String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = isIPv6 ? AF_INET6 : AF_INET
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func parseIPv4(_ s: String) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 4)
        // glibc's inet_pton accepts only four decimal octets without leading zeros: what we want.
        return inet_pton(AF_INET, s, &out) == 1 ? out : nil
    }

    static func parseIPv6(_ s: String) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET6, s, &out) == 1 ? out : nil
    }
}
