import Foundation
import NeoJSON

/// The one logger: JSON lines on stderr. Never given headers, bodies or secrets.
public final class Logger: @unchecked Sendable {
    public enum Level: Int, Comparable, Sendable {
        case debug, info, warn, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var name: String { ["debug", "info", "warn", "error"][rawValue] }
    }

    public let level: Level
    private let lock = NSLock()

    public init(level: Level) { self.level = level }

    /// Writes one line `{"ts":…,"level":…,"msg":…, fields…}` when `level` is enabled.
    public func log(_ level: Level, _ message: String, _ fields: JSONObject = JSONObject()) {
        guard level >= self.level else { return }
        var object = JSONObject([("ts", .string(isoNow())), ("level", .string(level.name)), ("msg", .string(message))])
        for (k, v) in fields { object[k] = v }
        var line = JSON.object(object).serialized()
        line.append(10)
        lock.lock()
        line.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, stderr) }
        fflush(stderr)
        lock.unlock()
    }

    public func info(_ m: String, _ f: JSONObject = JSONObject()) { log(.info, m, f) }
    public func warn(_ m: String, _ f: JSONObject = JSONObject()) { log(.warn, m, f) }
    public func error(_ m: String, _ f: JSONObject = JSONObject()) { log(.error, m, f) }
}

func isoNow() -> String {
    var tv = timeval()
    gettimeofday(&tv, nil)
    var t = tv.tv_sec
    var tm = tm()
    gmtime_r(&t, &tm)
    func pad(_ v: Int, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
    return "\(pad(Int(tm.tm_year) + 1900, 4))-\(pad(Int(tm.tm_mon) + 1, 2))-\(pad(Int(tm.tm_mday), 2))T"
        + "\(pad(Int(tm.tm_hour), 2)):\(pad(Int(tm.tm_min), 2)):\(pad(Int(tm.tm_sec), 2)).\(pad(Int(tv.tv_usec) / 1000, 3))Z"
}
