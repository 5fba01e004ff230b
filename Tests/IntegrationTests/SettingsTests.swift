import Foundation
import NeoJSON
import XCTest

/// Neo's tenant settings: any key reads, admins write a partial patch, bad values name the field.
final class SettingsTests: SharedServerTestCase {
    func test_settings_readByAnyKey_patchedByAdmins_validatedField_byField() throws {
        let fresh = try server.request("GET", "/public-api/settings")
        XCTAssertEqual(fresh.status, 200, fresh.text)
        XCTAssertEqual(fresh.data, ["start_business_hours": nil, "end_business_hours": nil, "timezone": nil,
                                    "human_friendly_client_name": nil, "referral_code": nil,
                                    "sleep_before_callback_processing_seconds": nil])

        let put = try server.request("PUT", "/public-api/settings", json: ["timezone": "America/New_York", "start_business_hours": 8])
        XCTAssertEqual(put.status, 200, put.text)
        XCTAssertEqual(put.data?["timezone"], "America/New_York")
        XCTAssertEqual(put.data?["start_business_hours"], 8)
        let partial = try server.request("PUT", "/public-api/settings", json: ["end_business_hours": 17, "start_business_hours": nil])
        XCTAssertEqual(partial.data?["timezone"], "America/New_York", "a PUT changes only what it sends")
        XCTAssertEqual(partial.data?["end_business_hours"], 17)
        XCTAssertEqual(partial.data?["start_business_hours"], .null, "null clears a field")

        let before = try server.request("GET", "/public-api/settings").data
        let bad = try server.request("PUT", "/public-api/settings", json: [
            "timezone": "Mars/Olympus_Mons", "end_business_hours": 24, "sleep_before_callback_processing_seconds": -1, "timezon": "UTC"])
        XCTAssertEqual(bad.status, 422, bad.text)
        let fields = Set(bad.json?["error"]?["details"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? [])
        XCTAssertEqual(fields, ["timezone", "end_business_hours", "sleep_before_callback_processing_seconds"])
        XCTAssertTrue(bad.json?["meta"]?["warnings"]?.arrayValue?.first?.stringValue?.contains("timezon") ?? false, bad.text)
        XCTAssertEqual(try server.request("GET", "/public-api/settings").data, before, "a refused PUT stores nothing")

        let dry = try server.request("PUT", "/public-api/settings", json: ["referral_code": "x"], headers: ["X-Neo-Test-Mode": "true"])
        XCTAssertEqual(dry.data?["referral_code"], "x")
        XCTAssertEqual(try server.request("GET", "/public-api/settings").data?["referral_code"], .null, "test mode stores nothing")

        let member = try server.createKey(["name": "reader", "role": "member"])
        XCTAssertEqual(try server.request("GET", "/public-api/settings", key: member).data?["timezone"], "America/New_York")
        let refused = try server.request("PUT", "/public-api/settings", key: member, json: ["referral_code": "y"])
        XCTAssertEqual(refused.status, 403, refused.text)

        let other = try server.adminKey(forTenant: "settings-other")
        XCTAssertEqual(try server.request("GET", "/public-api/settings", key: other).data?["timezone"], .null, "settings are per tenant")
    }
}
