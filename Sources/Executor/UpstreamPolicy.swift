#if canImport(Glibc)
import Glibc
#endif

/// What an address is, for the upstream policy (design §6).
public enum AddressClass: String, Sendable {
    case loopback
    case linkLocal = "link-local"
    /// Cloud instance metadata (169.254.169.254, fd00:ec2::254): credentials live there.
    case metadata
    case unspecified
    /// Multicast, broadcast and reserved ranges: never a real API.
    case reserved
    /// RFC 1918, carrier-grade NAT (100.64/10) and unique-local IPv6 (fc00::/7).
    case privateNetwork = "private"
    case publicInternet = "public"

    /// Classifies one address; IPv4-mapped IPv6 addresses are judged by their IPv4 part.
    public static func of(_ address: IPAddress) -> AddressClass {
        let b = address.bytes
        if b.count == 4 { return ofIPv4(b) }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return ofIPv4(Array(b[12..<16])) }
        if b.allSatisfy({ $0 == 0 }) { return .unspecified }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return .loopback }
        if b == IPAddress("fd00:ec2::254")!.bytes { return .metadata }
        if b[0] == 0xfe && (b[1] & 0xc0) == 0x80 { return .linkLocal }
        if (b[0] & 0xfe) == 0xfc { return .privateNetwork }
        if b[0] == 0xff { return .reserved }
        return .publicInternet
    }

    private static func ofIPv4(_ b: [UInt8]) -> AddressClass {
        switch (b[0], b[1]) {
        case (0, _): return .unspecified
        case (127, _): return .loopback
        case (169, 254): return b[2] == 169 && b[3] == 254 ? .metadata : .linkLocal
        case (10, _), (192, 168): return .privateNetwork
        case (172, 16...31): return .privateNetwork
        case (100, 64...127): return .privateNetwork
        case (224...255, _): return .reserved
        default: return .publicInternet
        }
    }
}

/// Which upstream addresses the executor may connect to (`NEO_UPSTREAM_POLICY`).
public enum UpstreamPolicy: String, Sendable, CaseIterable {
    /// Public internet only.
    case publicOnly = "public"
    /// Public and private networks; never loopback, link-local, metadata or unspecified (the default).
    case privateAllowed = "private"
    /// Everything, including loopback: for fully trusted deployments.
    case any
    /// Loopback only, and no DNS: hosts must be loopback IP literals or `localhost`. For tests and
    /// fuzzing, so that no generated config can make the server reach another machine.
    case loopbackOnly = "loopback"

    public func allows(_ cls: AddressClass) -> Bool {
        switch self {
        case .any: return true
        case .privateAllowed: return cls == .publicInternet || cls == .privateNetwork
        case .publicOnly: return cls == .publicInternet
        case .loopbackOnly: return cls == .loopback
        }
    }

    /// Under `loopback`, a registered name other than localhost is refused before any DNS query.
    public func refusesLookup(of host: String) -> String? {
        guard self == .loopbackOnly, IPAddress(host) == nil, host != "localhost" else { return nil }
        return "'\(host)' is not a loopback IP literal or localhost, refused by NEO_UPSTREAM_POLICY=loopback (no DNS lookups)"
    }

    /// Nil when every address is allowed, else why not and which policy would allow it. All must pass:
    /// one bad answer in a DNS reply is enough to refuse, so a name cannot smuggle a metadata address
    /// among public ones.
    public func refusal(host: String, addresses: [IPAddress]) -> String? {
        guard !addresses.isEmpty else { return "'\(host)' resolved to no address" }
        for a in addresses {
            let cls = AddressClass.of(a)
            if !allows(cls) {
                let shown = a.text == host ? "\(host)" : "'\(host)' resolves to \(a.text), which"
                return "\(shown) is a \(cls.rawValue) address, refused by NEO_UPSTREAM_POLICY=\(rawValue)" + UpstreamPolicy.fix(for: cls)
            }
        }
        return nil
    }

    /// "; start the server with NEO_UPSTREAM_POLICY=loopback (or any) to allow it": the policies that
    /// allow `cls`, narrowest first. None for cloud metadata: its credentials are what the policy guards.
    static func fix(for cls: AddressClass) -> String {
        guard cls != .metadata else { return "" }
        let allowing = [UpstreamPolicy.loopbackOnly, .publicOnly, .privateAllowed, .any].filter { $0.allows(cls) }.map(\.rawValue)
        guard let first = allowing.first else { return "" }
        let others = allowing.dropFirst()
        return "; start the server with NEO_UPSTREAM_POLICY=\(first)" + (others.isEmpty ? "" : " (or \(others.joined(separator: ", ")))") + " to allow it"
    }
}

/// Resolves a host name once, so the address checked is the address connected to (CURLOPT_RESOLVE).
public enum HostResolver {
    /// The addresses of `host` (literals are returned as is); throws an upstream error when DNS fails.
    public static func resolve(_ host: String, port: Int) throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0 else {
            throw ExecutorError(.upstream, "cannot resolve '\(host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        var out: [IPAddress] = []
        var cursor = result
        while let info = cursor {
            if let sa = info.pointee.ai_addr {
                if info.pointee.ai_family == AF_INET {
                    let bytes = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                        withUnsafeBytes(of: p.pointee.sin_addr) { Array($0) }
                    }
                    out.append(IPAddress(bytes: bytes))
                } else if info.pointee.ai_family == AF_INET6 {
                    let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                        withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                    }
                    out.append(IPAddress(bytes: bytes))
                }
            }
            cursor = info.pointee.ai_next
        }
        var seen = Set<IPAddress>()
        return out.filter { seen.insert($0).inserted }
    }
}
