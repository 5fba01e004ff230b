#if canImport(Glibc)
import Glibc
#endif
import NeoJSON

/// The one logger: JSON lines on stderr. Never given headers, bodies or secrets.
public final class Logger: Sendable {
    public enum Level: Int, Comparable, Sendable {
        case debug, info, warn, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var name: String { ["debug", "info", "warn", "error"][rawValue] }
    }

    public let level: Level
    /// Where lines go, one writer at a time so each line stays in one piece.
    private let output = Lock<Int32>(STDERR_FILENO)

    public init(level: Level) { self.level = level }

    /// Writes one line `{"ts":…,"level":…,"msg":…, fields…}` when `level` is enabled.
    public func log(_ level: Level, _ message: String, _ fields: JSONObject = JSONObject()) {
        guard level >= self.level else { return }
        var object = JSONObject([("ts", .string(Timestamp.now())), ("level", .string(level.name)), ("msg", .string(message))])
        for (k, v) in fields { object[k] = v }
        var line = JSON.object(object).serialized()
        line.append(10)
        output.withLock { fd in
            line.withUnsafeBytes { writeFully(fd, $0) }
        }
    }

    public func info(_ m: String, _ f: JSONObject = JSONObject()) { log(.info, m, f) }
    public func warn(_ m: String, _ f: JSONObject = JSONObject()) { log(.warn, m, f) }
    public func error(_ m: String, _ f: JSONObject = JSONObject()) { log(.error, m, f) }
}
