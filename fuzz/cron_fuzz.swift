// libFuzzer harness for the cron evaluator (Sources/PublicAPI/Schedules/Cron.swift, compiled in with this file
// by fuzz/run-cron.sh). Input: byte 0 picks a time zone, bytes 1-4 a start instant in 2000-2040, the rest is the
// expression. A refused expression must name its problem; an accepted one must give slots that are strictly
// later each time, at whole minutes, whose local wall time strictly increases (a repeated local time fires
// once), and that match the fields, except a slot moved to the end of a DST gap, which must sit on a transition.
import Foundation

private let zones: [TimeZone] = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata",
                                 "Pacific/Chatham", "America/Santiago", "Europe/London", "Pacific/Apia", "America/St_Johns"]
    .map { TimeZone(identifier: $0)! }

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        fputs("cron fuzz: \(message())\n", stderr)
        abort()
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func cronFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 5 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let zone = zones[Int(bytes[0]) % zones.count]
    let raw = UInt32(bytes[1]) << 24 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 8 | UInt32(bytes[4])
    let start = Date(timeIntervalSince1970: 946_684_800 + Double(raw % 1_262_304_000))  // 2000-01-01 + up to 40 years
    let expression = String(decoding: bytes[5...], as: UTF8.self)

    let schedule: CronSchedule
    do {
        schedule = try CronSchedule(expression)
    } catch let error as CronSchedule.ParseError {
        check(!error.description.isEmpty, "empty ParseError for \(expression.debugDescription)")
        return 0
    } catch {
        check(false, "unexpected error \(error) for \(expression.debugDescription)")
        return 0
    }
    check(schedule == (try? CronSchedule(expression)), "parsing is not deterministic for \(expression.debugDescription)")

    func offset(_ t: Double) -> Int64 { Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: t))) }
    var previous = start
    var previousWall: Int64?
    for _ in 0..<6 {
        guard let next = schedule.next(after: previous, in: zone) else { break }
        let t = next.timeIntervalSince1970
        let name = "\(expression.debugDescription) in \(zone.identifier) after \(previous.timeIntervalSince1970)"
        check(next > previous, "next() went backwards or stood still: \(t) for \(name)")
        check(t.truncatingRemainder(dividingBy: 60) == 0 || offset(t) % 60 != 0, "slot \(t) is not at a whole minute for \(name)")
        check(next == schedule.next(after: previous, in: zone), "next() is not deterministic for \(name)")
        let wall = Int64(t) + offset(t)
        if let previousWall { check(wall > previousWall, "local wall time did not increase at \(t) for \(name)") }
        let local = Civil(localSeconds: wall)
        let matches = schedule.minutes.contains(local.minute) && schedule.hours.contains(local.hour)
            && schedule.months.contains(local.month) && schedule.matchesDay(year: local.year, month: local.month, day: local.day)
        check(matches || offset(t - 1) != offset(t), "slot \(t) (local \(local)) matches no field and is no DST transition for \(name)")
        previousWall = wall
        previous = next
    }
    return 0
}
