import Foundation
import XCTest
@testable import PublicAPI

/// The cron evaluator against a fixed clock: every field form, Vixie's day rule, and DST both ways.
final class CronTests: XCTestCase {
    let utc = TimeZone(identifier: "UTC")!
    let newYork = TimeZone(identifier: "America/New_York")!

    private func at(_ text: String) -> Date {
        guard let date = ISO8601DateFormatter().date(from: text) else { fatalError("bad test date \(text)") }
        return date
    }

    private func iso(_ date: Date?) -> String {
        date.map { ISO8601DateFormatter().string(from: $0) } ?? "never"
    }

    /// The next `count` slots after `start`.
    private func slots(_ cron: String, after start: String, count: Int = 1, in zone: TimeZone? = nil) throws -> [String] {
        let schedule = try CronSchedule(cron)
        var out: [String] = []
        var t = at(start)
        for _ in 0..<count {
            guard let next = schedule.next(after: t, in: zone ?? utc) else { out.append("never"); break }
            out.append(iso(next))
            t = next
        }
        return out
    }

    func test_fieldForms_tableDriven() throws {
        let cases: [(String, String, String, [String])] = [
            ("every minute", "* * * * *", "2026-12-01T08:00:30Z", ["2026-12-01T08:01:00Z", "2026-12-01T08:02:00Z"]),
            ("strictly after an exact slot", "* * * * *", "2026-12-01T08:01:00Z", ["2026-12-01T08:02:00Z"]),
            ("a list", "5,35 * * * *", "2026-12-01T08:10:00Z", ["2026-12-01T08:35:00Z", "2026-12-01T09:05:00Z"]),
            ("a range", "0 9-10 * * *", "2026-12-01T09:30:00Z", ["2026-12-01T10:00:00Z", "2026-12-02T09:00:00Z"]),
            ("a step over *", "*/20 * * * *", "2026-12-01T08:41:00Z", ["2026-12-01T09:00:00Z", "2026-12-01T09:20:00Z"]),
            ("a stepped range", "10-30/10 8 * * *", "2026-12-01T08:15:00Z", ["2026-12-01T08:20:00Z", "2026-12-01T08:30:00Z", "2026-12-02T08:10:00Z"]),
            ("a start with a step runs to the end", "50/5 8 * * *", "2026-12-01T08:00:00Z", ["2026-12-01T08:50:00Z", "2026-12-01T08:55:00Z", "2026-12-02T08:50:00Z"]),
            ("month names", "0 0 1 JAN,jul *", "2026-12-01T08:00:00Z", ["2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z"]),
            ("weekday names", "0 12 * * MON-FRI", "2026-12-04T13:00:00Z", ["2026-12-07T12:00:00Z"]),
            ("7 is Sunday", "0 0 * * 7", "2026-12-01T00:00:00Z", ["2026-12-06T00:00:00Z"]),
            ("0 is Sunday", "0 0 * * 0", "2026-12-01T00:00:00Z", ["2026-12-06T00:00:00Z"]),
            ("month end skips short months", "0 0 31 * *", "2027-01-31T00:00:00Z", ["2027-03-31T00:00:00Z"]),
            ("leap day", "0 0 29 2 *", "2026-12-01T00:00:00Z", ["2028-02-29T00:00:00Z"]),
            ("year rollover", "59 23 31 12 *", "2026-12-31T23:59:00Z", ["2027-12-31T23:59:00Z"]),
            ("@hourly", "@hourly", "2026-12-01T08:00:00Z", ["2026-12-01T09:00:00Z"]),
            ("@daily", "@daily", "2026-12-01T08:00:00Z", ["2026-12-02T00:00:00Z"]),
            ("tabs and extra spaces", " 0\t0  * * * ", "2026-12-01T08:00:00Z", ["2026-12-02T00:00:00Z"]),
        ]
        for (name, cron, start, expected) in cases {
            XCTAssertEqual(try slots(cron, after: start, count: expected.count), expected, name)
        }
    }

    func test_vixieDayRule_eitherDayFieldMatchesWhenBothAreRestricted() throws {
        // 2026-12-01 is a Tuesday. "On the 15th, or on any Friday".
        XCTAssertEqual(try slots("0 0 15 * FRI", after: "2026-12-01T00:00:00Z", count: 3),
                       ["2026-12-04T00:00:00Z", "2026-12-11T00:00:00Z", "2026-12-15T00:00:00Z"])
        // A day field starting with '*' is unrestricted: then both must match (every Friday that is odd-dated).
        XCTAssertEqual(try slots("0 0 */2 * FRI", after: "2026-12-01T00:00:00Z", count: 2),
                       ["2026-12-11T00:00:00Z", "2026-12-25T00:00:00Z"])
        XCTAssertEqual(try slots("0 0 13 * *", after: "2026-12-01T00:00:00Z"), ["2026-12-13T00:00:00Z"])
    }

    func test_timeZone_slotsAreLocalWallClockTimes() throws {
        // 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
        XCTAssertEqual(try slots("0 9 * * *", after: "2026-12-01T00:00:00Z", in: newYork), ["2026-12-01T14:00:00Z"])
        XCTAssertEqual(try slots("0 9 * * *", after: "2026-07-01T00:00:00Z", in: newYork), ["2026-07-01T13:00:00Z"])
    }

    func test_springForward_skippedLocalTimeFiresAtTheEndOfTheGap_once() throws {
        // 2026-03-08 02:00 EST becomes 03:00 EDT (07:00 UTC): 02:30 does not exist that day.
        XCTAssertEqual(try slots("30 2 * * *", after: "2026-03-07T12:00:00Z", count: 3, in: newYork),
                       ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"])
        // Every quarter hour of the missing hour collapses to one firing at 03:00 EDT.
        XCTAssertEqual(try slots("*/15 2 * * *", after: "2026-03-08T06:50:00Z", count: 2, in: newYork),
                       ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"])
        // Hourly across the gap: 01:00 EST, then 03:00 EDT (02:00 is skipped, not fired twice).
        XCTAssertEqual(try slots("0 * * * *", after: "2026-03-08T05:30:00Z", count: 2, in: newYork),
                       ["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z"])
    }

    func test_fallBack_repeatedLocalTimeFiresOnce_atItsFirstOccurrence() throws {
        // 2026-11-01 02:00 EDT becomes 01:00 EST: 01:30 happens at 05:30 and 06:30 UTC.
        XCTAssertEqual(try slots("30 1 * * *", after: "2026-11-01T04:00:00Z", count: 2, in: newYork),
                       ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"])
        // Starting inside the repeated hour, after the first 01:30: the second 01:30 does not fire.
        XCTAssertEqual(try slots("30 1 * * *", after: "2026-11-01T06:10:00Z", in: newYork), ["2026-11-02T06:30:00Z"])
        // Hourly: 01:00 EDT, then 02:00 EST; the repeated 01:00 EST does not fire again.
        XCTAssertEqual(try slots("0 * * * *", after: "2026-11-01T04:30:00Z", count: 2, in: newYork),
                       ["2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z"])
    }

    func test_badExpressions_nameTheFieldAndToken() {
        let cases: [(String, String, String)] = [
            ("0 0 * * * *", "", "needs 5 fields"),
            ("* * * *", "", "needs 5 fields"),
            ("61 * * * *", "minute", "'61' is out of range 0-59"),
            ("* 24 * * *", "hour", "out of range 0-23"),
            ("* * 0 * *", "day-of-month", "out of range 1-31"),
            ("* * * 13 *", "month", "out of range 1-12"),
            ("* * * * 8", "day-of-week", "out of range 0-7"),
            ("* * * FOO *", "month", "is not a number or one of JAN"),
            ("*/0 * * * *", "minute", "step"),
            ("5-1 * * * *", "minute", "runs backwards"),
            ("1,,2 * * * *", "minute", "empty list item"),
            ("1/2/3 * * * *", "minute", "more than one '/'"),
            ("-1 * * * *", "minute", "is not a number"),
            ("0 0 31 2 *", "day-of-month", "never fires"),
            ("@reboot", "", "not supported"),
        ]
        for (cron, field, issue) in cases {
            XCTAssertThrowsError(try CronSchedule(cron), cron) { error in
                guard let e = error as? CronSchedule.ParseError else { return XCTFail("\(cron): \(error)") }
                XCTAssertEqual(e.field, field, cron)
                XCTAssertTrue(e.description.contains(issue), "\(cron): \(e.description)")
            }
        }
    }
}
