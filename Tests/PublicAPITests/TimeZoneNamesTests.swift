import Foundation
import XCTest
@testable import PublicAPI

/// `tzdataZoneNames` reads tzdata.zi as bytes (a cold start reads it once): the same names as splitting
/// every line as Strings, the reading it replaced.
final class TimeZoneNamesTests: XCTestCase {
    /// The String-splitting reading, kept here as the reference.
    func reference(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            switch fields.first {
            case "Z"? where fields.count >= 2: return String(fields[1])
            case "L"? where fields.count >= 3: return String(fields[2])
            default: return nil
            }
        }
    }

    func names(_ text: String) throws -> [String] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tzdata-\(UUID().uuidString).zi").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return tzdataZoneNames(path)
    }

    func test_edgeCases_matchTheReference() throws {
        let text = "# version 2024a\nZ Europe/Berlin 0:53:28 - LMT 1893 Ap\nL Asia/Kolkata Asia/Calcutta\nZ  Double/Space  1\n"
            + "R Rule x\nL OnlyTarget\nZ\nZ \nL  A   B  \nZx Not/A/Zone\n \n\nL Etc/UTC Etc/Zulu"
        XCTAssertEqual(try names(text), reference(text))
        XCTAssertEqual(try names(text), ["Europe/Berlin", "Asia/Calcutta", "Double/Space", "B", "Etc/Zulu"])
        XCTAssertEqual(tzdataZoneNames("/no/such/tzdata.zi"), [])
    }

    func test_theSystemsTzdata_matchesTheReference() throws {
        let path = "/usr/share/zoneinfo/tzdata.zi"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw XCTSkip("no \(path)") }
        let read = tzdataZoneNames(path)
        XCTAssertEqual(read, reference(text))
        XCTAssertGreaterThan(read.count, 500)
        XCTAssertTrue(read.contains("Asia/Kolkata"))
    }
}
