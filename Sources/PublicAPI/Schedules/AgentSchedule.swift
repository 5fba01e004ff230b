import Basics
import Foundation
import Store
import NeoJSON

/// The schedule an agent runs on (design §9): `schedule {cron, timezone?}` (other keys kept verbatim), in the
/// schedule's time zone, else the tenant's, else UTC. Pure: reading, validating and planning, no I/O.
struct AgentSchedule: Equatable {
    let cron: String
    /// The IANA name slots are computed in.
    let zone: String

    /// The schedule of an agent that fires: ENABLED, SCHEDULED, not CONVERSATIONAL, with a valid cron and zone.
    /// nil for every other agent (its next_run_at is null).
    static func effective(_ document: JSONObject, tenantZone: String?) -> AgentSchedule? {
        guard document["state"]?.stringValue == "ENABLED", document["trigger_type"]?.stringValue == "SCHEDULED",
              document["autonomy_type"]?.stringValue != "CONVERSATIONAL",
              let schedule = document["schedule"]?.objectValue, let cron = schedule["cron"]?.stringValue,
              parsedCron(cron) != nil else { return nil }
        let zone = schedule["timezone"]?.stringValue ?? tenantZone ?? "UTC"
        guard ianaTimeZone(zone) != nil else { return nil }
        return AgentSchedule(cron: cron, zone: zone)
    }

    /// The next_run_at to store after a write: the pending slot is kept while the schedule it came from is
    /// unchanged (a write made while a slot is due must not skip it); otherwise the first slot after `now`, so
    /// an edited cron takes effect from its next slot and an enabled agent does not catch up on its time off.
    static func plannedNextRun(_ schedule: AgentSchedule?, stored: AgentSchedule?, storedNext: String?, now: Date) -> String? {
        guard let schedule else { return nil }
        if schedule == stored, let storedNext { return storedNext }
        guard let cron = parsedCron(schedule.cron), let zone = ianaTimeZone(schedule.zone),
              let next = cron.next(after: now, in: zone) else { return nil }
        return Timestamp.format(next)
    }
}

/// Valid cron expressions parsed so far, by text: an agent write checks its cron, plans it (`effective`) and computes
/// its next slot, and a fixture's agents share a few expressions, so each text is parsed once per process (a seeded
/// start parsed every one three times). Bounded: emptied when full.
private let parsedCrons = Lock([String: CronSchedule]())
private let parsedCronsLimit = 1024

/// `CronSchedule(text)` remembered (a valid one only); throws the parse error of an invalid one.
func parsedCronOrError(_ text: String) throws -> CronSchedule {
    if let known = parsedCrons.withLock({ $0[text] }) { return known }
    let cron = try CronSchedule(text)
    parsedCrons.withLock { cache in
        if cache.count >= parsedCronsLimit { cache.removeAll(keepingCapacity: true) }
        cache[text] = cron
    }
    return cron
}

/// `CronSchedule(text)` remembered, or nil when it is not a valid expression.
func parsedCron(_ text: String) -> CronSchedule? { try? parsedCronOrError(text) }

/// A cron example for messages.
private let cronExample = #"{"cron": "0 8 * * MON-FRI", "timezone": "Europe/Berlin"}"#

/// Checks `schedule` of an agent document as a write leaves it; every problem goes to `validation` as
/// `schedule.cron` or `schedule.timezone` with the bad token. A SCHEDULED agent may have no schedule (null,
/// `{}`, or only null values: see `scheduleWarnings`); any other schedule of a SCHEDULED agent needs a cron.
/// Agents of other trigger types keep a schedule verbatim (Neo's templates carry `"schedule": {}`), but a cron or
/// time zone they carry must still be valid.
func checkSchedule(_ document: JSONObject, validation: Validation) {
    guard let schedule = document["schedule"]?.objectValue else { return }
    let scheduled = document["trigger_type"]?.stringValue == "SCHEDULED"
    switch schedule["cron"] {
    case .string(let cron)?:
        do {
            _ = try parsedCronOrError(cron)
        } catch let e as CronSchedule.ParseError {
            let seconds = cron.split(whereSeparator: { $0 == " " || $0 == "\t" }).count == 6 ? "; a seconds field is not supported" : ""
            validation.fail("schedule.cron", "\(e.description) (in '\(cron.prefix(100))'\(seconds))")
        } catch {
            validation.fail("schedule.cron", "is not a cron expression")
        }
    case .some(let other) where !other.isNull:
        validation.fail("schedule.cron", "must be a string such as '0 8 * * MON-FRI' (got \(other.typeName))")
    default:
        if scheduled && schedule.contains(where: { !$0.value.isNull }) {
            validation.fail("schedule.cron", "is required in the schedule of a SCHEDULED agent: 5 fields, e.g. \(cronExample)")
        }
    }
    switch schedule["timezone"] {
    case .string(let name)?:
        if ianaTimeZone(name) == nil {
            validation.fail("schedule.timezone", "must be an IANA time zone such as Europe/Berlin or America/New_York (got '\(name.prefix(64))')")
        }
    case .some(let other) where !other.isNull:
        validation.fail("schedule.timezone", "must be a string naming an IANA time zone such as Europe/Berlin (got \(other.typeName))")
    default:
        break
    }
}

/// `meta.warnings` for a written agent whose schedule will not fire as it stands. Not refusals: Neo accepts
/// such agents (templates, agents set up in steps).
func scheduleWarnings(_ document: JSONObject) -> [String] {
    let trigger = document["trigger_type"]?.stringValue
    let schedule = document["schedule"]?.objectValue
    let cron = schedule?["cron"]
    guard trigger == "SCHEDULED" else {
        if let cron, !cron.isNull {
            return ["schedule is kept but not run: only SCHEDULED agents fire on a schedule (trigger_type is \(trigger ?? "unset"))"]
        }
        return []
    }
    guard let cron, !cron.isNull else {
        return ["trigger_type is SCHEDULED but the agent has no schedule, so it never fires until one is set, e.g. \"schedule\": \(cronExample)"]
    }
    if document["autonomy_type"]?.stringValue == "CONVERSATIONAL" {
        return ["CONVERSATIONAL agents are reached through chat sessions and never fire on a schedule"]
    }
    let check = Validation()
    checkSchedule(document, validation: check)
    if let problem = check.details.first {
        return ["\(problem.field) \(problem.issue); the agent never fires until the schedule is fixed"]
    }
    return []
}
