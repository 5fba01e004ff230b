#if canImport(Basics)
import Basics  // the fuzz harness compiles this file with CivilCalendar.swift in one module
#endif
import Foundation

/// A five-field cron expression (design §9): minute hour day-of-month month day-of-week, with `*`,
/// lists, ranges, steps, JAN–DEC, SUN–SAT and 7 = SUN. When both day fields are restricted either may
/// match (Vixie cron's rule: a field is unrestricted when it starts with `*`). Pure: the time zone and
/// the instant to start from are arguments, so tests drive it with any clock.
public struct CronSchedule: Equatable, Sendable {
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// A refused expression: which field, the token, and what is wrong, for a 422 naming it.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let field: String
        public let token: String
        public let issue: String
        public var description: String {
            token.isEmpty ? issue : "\(field) field: '\(token.prefix(40))' \(issue)"
        }
    }

    private struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String]
    }

    private static let fields = [
        Field(name: "minute", range: 0...59, names: []),
        Field(name: "hour", range: 0...23, names: []),
        Field(name: "day-of-month", range: 1...31, names: []),
        Field(name: "month", range: 1...12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
        Field(name: "day-of-week", range: 0...7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ]

    private static let macros = ["@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                                 "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"]

    /// Parses `expression`; throws naming the first bad field and token.
    public init(_ expression: String) throws {
        let trimmed = expression.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count <= 200 else {
            throw ParseError(field: "", token: "", issue: "is longer than 200 characters")
        }
        let text = CronSchedule.macros[trimmed.lowercased()] ?? trimmed
        if text.hasPrefix("@") {
            throw ParseError(field: "", token: text, issue: "'\(text.prefix(20))' is not supported; use 5 fields or one of "
                + CronSchedule.macros.keys.sorted().joined(separator: ", "))
        }
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw ParseError(field: "", token: "", issue: "needs 5 fields (minute hour day-of-month month day-of-week), got \(parts.count)")
        }
        var sets: [Set<Int>] = []
        for (field, part) in zip(CronSchedule.fields, parts) {
            sets.append(try CronSchedule.parseField(part, field))
        }
        minutes = sets[0]
        hours = sets[1]
        daysOfMonth = sets[2]
        months = sets[3]
        daysOfWeek = Set(sets[4].map { $0 == 7 ? 0 : $0 })
        dayOfMonthRestricted = !parts[2].hasPrefix("*")
        dayOfWeekRestricted = !parts[4].hasPrefix("*")
        // When only the day of month decides, some chosen month must have one of the chosen days (not `31 2`).
        let longest = months.map { $0 == 2 ? 29 : [4, 6, 9, 11].contains($0) ? 30 : 31 }.max() ?? 0
        if dayOfMonthRestricted && !dayOfWeekRestricted && !daysOfMonth.contains(where: { $0 <= longest }) {
            throw ParseError(field: "day-of-month", token: parts[2], issue: "never occurs in the chosen months, so the schedule never fires")
        }
    }

    private static func parseField(_ text: String, _ field: Field) throws -> Set<Int> {
        var values = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard !item.isEmpty else { throw ParseError(field: field.name, token: text, issue: "has an empty list item") }
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard pieces.count <= 2 else { throw ParseError(field: field.name, token: item, issue: "has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s >= 1, s <= field.range.upperBound else {
                    throw ParseError(field: field.name, token: item, issue: "has a step that is not a number from 1 to \(field.range.upperBound)")
                }
                step = s
            }
            let base = pieces[0]
            var low: Int, high: Int
            if base == "*" {
                (low, high) = (field.range.lowerBound, field.range.upperBound)
                if field.name == "day-of-week" { high = 6 }
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(String(base[..<dash]), field, token: item)
                high = try value(String(base[base.index(after: dash)...]), field, token: item)
                guard low <= high else { throw ParseError(field: field.name, token: item, issue: "is a range that runs backwards") }
            } else {
                low = try value(base, field, token: item)
                // Vixie: `5/15` runs from 5 to the end of the field.
                high = pieces.count == 2 ? (field.name == "day-of-week" ? 6 : field.range.upperBound) : low
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    private static func value(_ text: String, _ field: Field, token: String) throws -> Int {
        if let n = Int(text), text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            guard field.range.contains(n) else {
                throw ParseError(field: field.name, token: token, issue: "is out of range \(field.range.lowerBound)-\(field.range.upperBound)")
            }
            return n
        }
        if let index = field.names.firstIndex(of: text.uppercased()) {
            return field.name == "month" ? index + 1 : index
        }
        let allowed = field.names.isEmpty ? "a number" : "a number or one of \(field.names.joined(separator: " "))"
        throw ParseError(field: field.name, token: token, issue: "is not \(allowed)")
    }

    /// Whether a civil date matches the day fields (Vixie's either-may-match rule when both are restricted).
    func matchesDay(year: Int, month: Int, day: Int) -> Bool {
        let dom = daysOfMonth.contains(day)
        let dow = daysOfWeek.contains(CivilCalendar.weekday(year: year, month: month, day: day))
        if dayOfMonthRestricted && dayOfWeekRestricted { return dom || dow }
        return dom && dow
    }

    /// The first slot strictly after `instant` in `zone`. A local time that a DST change skips fires at the
    /// first instant after the gap; a local time that repeats fires once, at its first occurrence. nil when
    /// nothing matches within eight years.
    public func next(after instant: Date, in zone: TimeZone) -> Date? {
        let after = Int64(instant.timeIntervalSince1970.rounded(.down))
        let local = after + Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(after))))
        // Candidates start at the local minute after the one holding `instant`.
        let start = Civil(localSeconds: (local.floorDiv(60) + 1) * 60)
        let sortedMonths = months.sorted(), sortedHours = hours.sorted(), sortedMinutes = minutes.sorted()
        for year in start.year..<(start.year + 9) {
            let firstYear = year == start.year
            for month in sortedMonths where !firstYear || month >= start.month {
                let firstMonth = firstYear && month == start.month
                for day in 1...CivilCalendar.daysIn(month: month, year: year) where (!firstMonth || day >= start.day)
                    && matchesDay(year: year, month: month, day: day) {
                    let firstDay = firstMonth && day == start.day
                    for hour in sortedHours where !firstDay || hour >= start.hour {
                        let firstHour = firstDay && hour == start.hour
                        for minute in sortedMinutes where !firstHour || minute >= start.minute {
                            let wall = Civil(year: year, month: month, day: day, hour: hour, minute: minute).localSeconds
                            let fire = Civil.instant(forLocal: wall, in: zone)
                            if fire > after { return Date(timeIntervalSince1970: Double(fire)) }
                        }
                    }
                }
            }
        }
        return nil
    }
}

/// Proleptic Gregorian civil time without Calendar (fast and the same on every platform).
struct Civil: Equatable {
    var year: Int, month: Int, day: Int, hour: Int, minute: Int

    init(year: Int, month: Int, day: Int, hour: Int, minute: Int) {
        (self.year, self.month, self.day, self.hour, self.minute) = (year, month, day, hour, minute)
    }

    /// From seconds since 1970 on a local wall clock.
    init(localSeconds: Int64) {
        let days = Int(localSeconds.floorDiv(86_400))
        let rest = Int(localSeconds - Int64(days) * 86_400)
        let date = CivilCalendar.date(days: days)
        self.init(year: date.year, month: date.month, day: date.day, hour: rest / 3600, minute: rest % 3600 / 60)
    }

    var localSeconds: Int64 {
        Int64(CivilCalendar.days(year: year, month: month, day: day)) * 86_400 + Int64(hour * 3600 + minute * 60)
    }

    /// The UTC second at which a local wall-clock second happens in `zone`: the earlier one when the wall
    /// time repeats, the end of the gap when it is skipped.
    static func instant(forLocal wall: Int64, in zone: TimeZone) -> Int64 {
        func offset(_ utc: Int64) -> Int64 { Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(utc)))) }
        let before = offset(wall - 86_400), later = offset(wall + 86_400)
        let valid = Set([before, later].map { wall - $0 }.filter { wall - offset($0) == $0 })
        if let earliest = valid.min() { return earliest }
        // A gap: the wall time maps past the transition with the old offset and before it with the new one.
        var low = wall - max(before, later), high = wall - min(before, later)
        while high - low > 1 {
            let mid = low + (high - low) / 2
            if offset(mid) == offset(low) { low = mid } else { high = mid }
        }
        return high
    }
}

private extension Int64 {
    func floorDiv(_ d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
