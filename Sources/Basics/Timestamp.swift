import Foundation

/// RFC 3339 UTC timestamps with millisecond precision and `Z`, e.g. `2026-11-29T17:00:00.123Z`.
/// Stored as TEXT, they sort chronologically as strings; formatting avoids DateFormatter.
public enum Timestamp {
    /// The current time.
    public static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return format(seconds: Int64(spec.tv_sec), millis: Int(spec.tv_nsec / 1_000_000))
    }

    /// `date` rounded to the nearest millisecond.
    public static func format(_ date: Date) -> String {
        let totalMillis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, millis) = totalMillis.quotientAndRemainder(dividingBy: 1000)
        return millis < 0 ? format(seconds: seconds - 1, millis: Int(millis) + 1000) : format(seconds: seconds, millis: Int(millis))
    }

    private static func format(seconds: Int64, millis: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let year = Int(parts.tm_year) + 1900
        guard (0...9999).contains(year) else { return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            year, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis) }
        return String(unsafeUninitializedCapacity: 24) { out in
            func put(_ value: Int, _ width: Int, at start: Int) {
                var v = value
                for i in stride(from: start + width - 1, through: start, by: -1) {
                    out[i] = UInt8(ascii: "0") &+ UInt8(v % 10)
                    v /= 10
                }
            }
            put(year, 4, at: 0); out[4] = UInt8(ascii: "-")
            put(Int(parts.tm_mon) + 1, 2, at: 5); out[7] = UInt8(ascii: "-")
            put(Int(parts.tm_mday), 2, at: 8); out[10] = UInt8(ascii: "T")
            put(Int(parts.tm_hour), 2, at: 11); out[13] = UInt8(ascii: ":")
            put(Int(parts.tm_min), 2, at: 14); out[16] = UInt8(ascii: ":")
            put(Int(parts.tm_sec), 2, at: 17); out[19] = UInt8(ascii: ".")
            put(millis, 3, at: 20); out[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    /// Parses RFC 3339 (`T`/`t`/space separator, optional fraction, `Z` or ±HH:MM offset); nil when malformed.
    public static func parse(_ s: String) -> Date? {
        var reader = DigitReader(Array(s.utf8))
        guard let year = reader.number(4), reader.skip("-"),
              let month = reader.number(2), reader.skip("-"),
              let day = reader.number(2),
              reader.skip("T") || reader.skip("t") || reader.skip(" "),
              let hour = reader.number(2), reader.skip(":"),
              let minute = reader.number(2), reader.skip(":"),
              let second = reader.number(2),
              (1...12).contains(month), (1...CivilCalendar.daysIn(month: month, year: year)).contains(day),
              hour < 24, minute < 60, second <= 60 else { return nil }
        var fraction = 0.0
        if reader.skip(".") {
            var scale = 0.1
            var digits = 0
            while let digit = reader.number(1) {
                fraction += Double(digit) * scale
                scale /= 10
                digits += 1
            }
            guard digits > 0 else { return nil }
        }
        var offsetSeconds = 0
        if reader.skip("Z") || reader.skip("z") {
            offsetSeconds = 0
        } else {
            let sign: Int
            if reader.skip("+") { sign = 1 } else if reader.skip("-") { sign = -1 } else { return nil }
            guard let offsetHours = reader.number(2), reader.skip(":"), let offsetMinutes = reader.number(2),
                  offsetHours < 24, offsetMinutes < 60 else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard reader.atEnd else { return nil }
        let days = CivilCalendar.days(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    private struct DigitReader {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { position == bytes.count }

        mutating func skip(_ character: Unicode.Scalar) -> Bool {
            guard position < bytes.count, bytes[position] == UInt8(ascii: character) else { return false }
            position += 1
            return true
        }

        /// Exactly `width` ASCII digits as a number, or nil (consuming nothing).
        mutating func number(_ width: Int) -> Int? {
            guard position + width <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[position..<(position + width)] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            position += width
            return value
        }
    }
}
