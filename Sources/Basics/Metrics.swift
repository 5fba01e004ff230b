import Foundation
import Synchronization

/// A count that only goes up: one relaxed atomic add per event, no lock, so it can sit on the
/// request path of every event loop.
public final class Counter: Sendable {
    private let value = Atomic<UInt64>(0)

    public init() {}

    @inline(__always)
    public func add(_ n: UInt64 = 1) { value.add(n, ordering: .relaxed) }

    public var current: UInt64 { value.load(ordering: .relaxed) }
}

/// Observations in fixed buckets (seconds): one atomic add for the bucket and one for the sum.
/// The count is the sum of the buckets, so a scrape never sees a count that disagrees with them.
public final class Histogram: Sendable {
    /// Upper bounds of the finite buckets, ascending; the last bucket is +Inf.
    public let bounds: [Double]
    private let buckets: [Counter]
    private let sumNanoseconds = Counter()

    /// From 0.5 ms to 30 s: request handling, store calls and upstream calls all fit.
    public static let latencyBounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    public init(bounds: [Double] = Histogram.latencyBounds) {
        self.bounds = bounds
        buckets = (0...bounds.count).map { _ in Counter() }
    }

    @inline(__always)
    public func observe(_ seconds: Double) {
        var i = 0
        while i < bounds.count && seconds > bounds[i] { i += 1 }
        buckets[i].add()
        if seconds > 0 { sumNanoseconds.add(UInt64(min(seconds, 1e9) * 1e9)) }
    }

    /// Cumulative counts per bound (+Inf last), and the sum in seconds.
    public func snapshot() -> (cumulative: [UInt64], sum: Double) {
        var running: UInt64 = 0
        let cumulative = buckets.map { b -> UInt64 in
            running &+= b.current
            return running
        }
        return (cumulative, Double(sumNanoseconds.current) / 1e9)
    }
}

/// The process's metrics, rendered in the Prometheus text exposition format (version 0.0.4).
///
/// Families are registered once (at start-up, or the first time a static table of series is built);
/// only registration and scrapes take the lock. Label values must come from small fixed sets (route
/// templates, status classes, kinds), never from request data, so the number of series stays bounded.
public final class MetricsRegistry: Sendable {
    /// The one registry of the process: counters are process-wide facts, like its RSS.
    public static let shared = MetricsRegistry()

    public enum Kind: String, Sendable { case counter, gauge, histogram }
    public typealias Labels = [(String, String)]

    /// What a family reports at scrape time.
    enum Series: Sendable {
        case counter(Labels, Counter)
        case histogram(Labels, Histogram)
        /// Samples computed at scrape time (gauges read from /proc or the store).
        case collected(@Sendable () -> [(Labels, Double)])
    }

    struct Family: Sendable {
        let name: String
        let help: String
        let kind: Kind
        var series: [Series]
    }

    private let families = Lock<[Family]>([])

    public init() {}

    /// Registers a new series of family `name` with `labels` (once per label set: callers keep it).
    public func counter(_ name: String, help: String, labels: Labels = []) -> Counter {
        let counter = Counter()
        add(name, help: help, kind: .counter, .counter(labels, counter))
        return counter
    }

    /// Registers a new histogram series of family `name` with `labels`.
    public func histogram(_ name: String, help: String, labels: Labels = [], bounds: [Double] = Histogram.latencyBounds) -> Histogram {
        let histogram = Histogram(bounds: bounds)
        add(name, help: help, kind: .histogram, .histogram(labels, histogram))
        return histogram
    }

    /// A family whose samples `collect` computes at every scrape. Registering the same name again
    /// replaces the collector (a restarted service in the same process).
    public func collect(_ name: String, help: String, kind: Kind = .gauge, _ collect: @escaping @Sendable () -> [(Labels, Double)]) {
        families.withLock { list in
            list.removeAll { $0.name == name }
            list.append(Family(name: name, help: help, kind: kind, series: [.collected(collect)]))
        }
    }

    private func add(_ name: String, help: String, kind: Kind, _ series: Series) {
        families.withLock { list in
            if let i = list.firstIndex(where: { $0.name == name }) {
                list[i].series.append(series)
            } else {
                list.append(Family(name: name, help: help, kind: kind, series: [series]))
            }
        }
    }

    /// The text exposition of every family.
    public func render() -> String {
        let snapshot = families.withLock { $0 }
        var out = ""
        out.reserveCapacity(16 * 1024)
        for family in snapshot {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.kind.rawValue)\n"
            for series in family.series {
                switch series {
                case .counter(let labels, let c):
                    out += "\(family.name)\(Self.format(labels)) \(c.current)\n"
                case .histogram(let labels, let h):
                    let (cumulative, sum) = h.snapshot()
                    for (i, count) in cumulative.enumerated() {
                        let le = i < h.bounds.count ? Self.number(h.bounds[i]) : "+Inf"
                        out += "\(family.name)_bucket\(Self.format(labels + [("le", le)])) \(count)\n"
                    }
                    out += "\(family.name)_sum\(Self.format(labels)) \(Self.number(sum))\n"
                    out += "\(family.name)_count\(Self.format(labels)) \(cumulative.last ?? 0)\n"
                case .collected(let collect):
                    for (labels, value) in collect() {
                        out += "\(family.name)\(Self.format(labels)) \(Self.number(value))\n"
                    }
                }
            }
        }
        return out
    }

    static func format(_ labels: Labels) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
    }

    /// Label value escaping of the text format: backslash, double quote and line feed.
    static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        return value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}

/// The status class label of an HTTP status: `2xx`…`5xx`, bounded whatever the upstream sends.
public func statusClass(_ status: Int) -> String {
    switch status {
    case 100..<200: return "1xx"
    case 200..<300: return "2xx"
    case 300..<400: return "3xx"
    case 400..<500: return "4xx"
    default: return "5xx"
    }
}

/// What the process uses, read from /proc at scrape time.
public enum ProcessUsage {
    /// Resident set size in bytes (/proc/self/statm, second field, in pages).
    public static func residentBytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Open file descriptors (entries of /proc/self/fd, minus the one reading it).
    public static func openFileDescriptors() -> Double {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return 0 }
        return Double(max(0, entries.count - 1))
    }
}
