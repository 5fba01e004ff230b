/// A path-segment trie with `{param}` captures and per-method handlers, built once at start.
///
/// Nodes live in one array and refer to each other by index, so a lookup walks contiguous memory.
/// Literal segments win over captures; `HEAD` falls back to the `GET` handler.
public struct Router<Handler> {
    struct Node {
        var literals: [Substring: Int] = [:]
        var param: (name: String, node: Int)?
        var handlers: [String: Handler] = [:]
        var pattern: String = ""
    }

    /// The outcome of a lookup.
    public enum Match {
        case found(Handler, params: [String: String], pattern: String)
        case methodNotAllowed(allow: [String])
        case notFound
    }

    private var nodes: [Node] = [Node()]

    public init() {}

    /// Every registered (method, pattern) pair, for checking the OpenAPI spec against the router.
    public var routes: [(method: String, pattern: String)] {
        nodes.flatMap { n in n.handlers.keys.sorted().map { (method: $0, pattern: n.pattern) } }
    }

    /// Registers `handler` for `method` on `pattern` such as `/public-api/agents/{agent_id}`.
    public mutating func add(_ method: String, _ pattern: String, _ handler: Handler) {
        var index = 0
        for segment in pattern.split(separator: "/", omittingEmptySubsequences: true) {
            if segment.first == "{" && segment.last == "}" {
                let name = String(segment.dropFirst().dropLast())
                if let existing = nodes[index].param {
                    precondition(existing.name == name, "conflicting captures {\(existing.name)} and {\(name)} in \(pattern)")
                    index = existing.node
                } else {
                    nodes.append(Node())
                    nodes[index].param = (name, nodes.count - 1)
                    index = nodes.count - 1
                }
            } else if let next = nodes[index].literals[segment] {
                index = next
            } else {
                nodes.append(Node())
                nodes[index].literals[segment] = nodes.count - 1
                index = nodes.count - 1
            }
        }
        precondition(nodes[index].handlers[method] == nil, "duplicate route \(method) \(pattern)")
        nodes[index].handlers[method] = handler
        nodes[index].pattern = pattern
    }

    /// Finds the handler for `method` and a percent-encoded `path`.
    public func match(_ method: String, _ path: String) -> Match {
        var index = 0
        var params: [String: String] = [:]
        // Walk the segments in place: no array of substrings per request.
        let utf8 = path.utf8
        var start = utf8.startIndex
        while start < utf8.endIndex {
            if utf8[start] == UInt8(ascii: "/") { start = utf8.index(after: start); continue }
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "/")) ?? utf8.endIndex
            let segment = Substring(path[start..<end])
            if let next = nodes[index].literals[segment] {
                index = next
            } else if let (name, next) = nodes[index].param, let value = percentDecode(segment) {
                params[name] = value
                index = next
            } else {
                return .notFound
            }
            start = end
        }
        let node = nodes[index]
        if node.handlers.isEmpty { return .notFound }
        if let h = node.handlers[method] ?? (method == "HEAD" ? node.handlers["GET"] : nil) {
            return .found(h, params: params, pattern: node.pattern)
        }
        var allow = Set(node.handlers.keys)
        if allow.contains("GET") { allow.insert("HEAD") }
        return .methodNotAllowed(allow: allow.sorted())
    }
}

/// Decodes %XX escapes of one path segment; nil when an escape is malformed, decodes to invalid
/// UTF-8, or yields a "/" or NUL (which would change the meaning of the path).
public func percentDecode(_ s: Substring) -> String? {
    guard s.utf8.contains(UInt8(ascii: "%")) else { return String(s) }
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count)
    var it = s.utf8.makeIterator()
    while let b = it.next() {
        if b != UInt8(ascii: "%") { out.append(b); continue }
        guard let h = it.next().flatMap(hexValue), let l = it.next().flatMap(hexValue) else { return nil }
        let v = h << 4 | l
        if v == 0 || v == UInt8(ascii: "/") { return nil }
        out.append(v)
    }
    return String(validating: out, as: UTF8.self)
}

/// The value of one hex digit, or nil.
@inline(__always)
public func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: return c - 48
    case 65...70: return c - 55
    case 97...102: return c - 87
    default: return nil
    }
}

extension Router: Sendable where Handler: Sendable {}
extension Router.Node: Sendable where Handler: Sendable {}
