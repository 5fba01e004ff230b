import Foundation
import NeoJSON

/// Neo's tenant settings (`PublicSettings`, design §9). `timezone` is the default for schedules and
/// `sleep_before_callback_processing_seconds` delays runs that inbound events start.
struct TenantSettings: Equatable {
    var startBusinessHours: Int64?
    var endBusinessHours: Int64?
    var timezone: String?
    var humanFriendlyClientName: String?
    var referralCode: String?
    var sleepBeforeCallbackProcessingSeconds: Int64?

    static let fields = ["start_business_hours", "end_business_hours", "timezone", "human_friendly_client_name", "referral_code",
                         "sleep_before_callback_processing_seconds"]

    init() {}

    /// From the stored document (written by `json`, so it is trusted).
    init(stored: JSONObject) {
        startBusinessHours = stored["start_business_hours"]?.intValue
        endBusinessHours = stored["end_business_hours"]?.intValue
        timezone = stored["timezone"]?.stringValue
        humanFriendlyClientName = stored["human_friendly_client_name"]?.stringValue
        referralCode = stored["referral_code"]?.stringValue
        sleepBeforeCallbackProcessingSeconds = stored["sleep_before_callback_processing_seconds"]?.intValue
    }

    /// A PUT: only sent fields change; null clears one. Every bad field is named (422).
    func applying(_ patch: JSONObject, validation: Validation) -> TenantSettings {
        let r = FieldReader(patch, validation: validation)
        var out = self
        func set<T>(_ key: String, _ path: WritableKeyPath<TenantSettings, T?>, _ read: () -> T?) {
            guard r.has(key) else { return }
            if r.isNull(key) { out[keyPath: path] = nil } else if let v = read() { out[keyPath: path] = v }
        }
        set("start_business_hours", \.startBusinessHours) { r.int("start_business_hours", range: 0...23) }
        set("end_business_hours", \.endBusinessHours) { r.int("end_business_hours", range: 0...23) }
        set("timezone", \.timezone) {
            guard let name = r.string("timezone", maxLength: 64, minLength: 1) else { return nil }
            guard ianaTimeZone(name) != nil else {
                validation.fail("timezone", "must be an IANA time zone such as Europe/Berlin or America/New_York (got '\(name)')")
                return nil
            }
            return name
        }
        set("human_friendly_client_name", \.humanFriendlyClientName) { r.string("human_friendly_client_name", maxLength: 200) }
        set("referral_code", \.referralCode) { r.string("referral_code", maxLength: 200) }
        set("sleep_before_callback_processing_seconds", \.sleepBeforeCallbackProcessingSeconds) {
            r.int("sleep_before_callback_processing_seconds", range: 0...3600)
        }
        r.warnUnknown()
        return out
    }

    var json: JSONObject {
        func int(_ v: Int64?) -> JSON { v.map { .int($0) } ?? .null }
        func text(_ v: String?) -> JSON { v.map { .string($0) } ?? .null }
        return JSONObject([
            ("start_business_hours", int(startBusinessHours)), ("end_business_hours", int(endBusinessHours)),
            ("timezone", text(timezone)), ("human_friendly_client_name", text(humanFriendlyClientName)),
            ("referral_code", text(referralCode)),
            ("sleep_before_callback_processing_seconds", int(sleepBeforeCallbackProcessingSeconds)),
        ])
    }
}

/// An IANA zone from the system tz database (Debian's tzdata), or nil; `UTC` is always known.
func ianaTimeZone(_ name: String) -> TimeZone? {
    if name == "UTC" || name == "Etc/UTC" { return TimeZone(identifier: "UTC") }
    guard tzdataTimeZones.contains(name) || icuTimeZones.contains(name) else { return nil }
    return TimeZone(identifier: name)
}

/// The known names are tzdata's own index (its zone and link names) and Foundation's list (ICU's), which lacks some
/// canonical names, Asia/Kolkata and Etc/GMT+5 among them. Two sets, the tzdata one asked first: ICU's list is built
/// only for a name tzdata does not have (building it was ~2 % of a seeded cold start).
private let tzdataTimeZones = Set(tzdataZoneNames("/usr/share/zoneinfo/tzdata.zi"))
private let icuTimeZones = Set(TimeZone.knownTimeZoneIdentifiers)

/// The `Z name …` and `L target name` entries of a tzdata.zi file; none when it is missing. Read as
/// bytes, and only the `Z`/`L` lines split: splitting each of the file's ~4,600 lines as Strings was a
/// tenth of a seeded cold start (the first timezone check builds `tzdataTimeZones`).
func tzdataZoneNames(_ path: String) -> [String] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    return data.withUnsafeBytes { raw -> [String] in
        let b = raw.bindMemory(to: UInt8.self)
        let n = b.count
        var names: [String] = []
        names.reserveCapacity(700)
        var i = 0
        while i < n {
            var end = i
            while end < n && b[end] != 10 { end += 1 }
            // A `Z` or `L` first field: the name is field 1 of a `Z` line, field 2 of an `L` line
            // (fields separated by runs of spaces, as String.split(separator: " ") reads them).
            if end - i >= 2 && (b[i] == 90 || b[i] == 76) && b[i + 1] == 32 {
                let wanted = b[i] == 90 ? 1 : 2
                var field = 0, j = i + 1
                while j < end {
                    while j < end && b[j] == 32 { j += 1 }
                    if j == end { break }
                    let start = j
                    while j < end && b[j] != 32 { j += 1 }
                    field += 1
                    if field == wanted {
                        names.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<j]), as: UTF8.self))
                        break
                    }
                }
            }
            i = end + 1
        }
        return names
    }
}
