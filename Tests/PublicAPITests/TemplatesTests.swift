import NeoJSON
import XCTest
@testable import PublicAPI

final class TemplatesTests: XCTestCase {
    let input: JSONObject = ["ticket": "T-9", "count": 3, "caller": ["name": "Ada", "vip": true], "empty": nil]

    func test_fill_cases() throws {
        let cases: [(String, JSON, JSON)] = [
            ("plain text is untouched", "hello", "hello"),
            ("a lone placeholder keeps the input's type", "{{input.count}}", 3),
            ("a lone placeholder with spaces", "  {{ input.count }} ", 3),
            ("nested fields", "{{input.caller.name}}", "Ada"),
            ("spliced into text", "Ticket {{input.ticket}} for {{input.caller.name}}", "Ticket T-9 for Ada"),
            ("non-strings spliced as JSON", "vip={{input.caller.vip}} n={{input.count}}", "vip=true n=3"),
            ("null splices as nothing", "[{{input.empty}}]", "[]"),
            ("objects are filled recursively", ["path": "/t/{{input.ticket}}", "n": 1], ["path": "/t/T-9", "n": 1]),
            ("arrays are filled", ["{{input.ticket}}", "x"], ["T-9", "x"]),
            ("an unclosed brace is left as text", "a {{input.ticket", "a {{input.ticket"),
            ("a whole object can be placed", "{{input.caller}}", ["name": "Ada", "vip": true]),
        ]
        for (name, template, expected) in cases {
            XCTAssertEqual(try Templates.fill(template, input: input), expected, name)
        }
    }

    func test_fill_missingOrForeignPlaceholders_throwNamingThePath() {
        let cases: [(JSON, String)] = [
            ("{{input.nope}}", "input.nope"),
            ("x {{input.caller.age}} y", "input.caller.age"),
            ("{{secrets.token}}", "secrets.token"),
            ("{{input}}", "input"),
            ("{{input..name}}", "input..name"),
            (["deep": ["{{input.ticket.more}}"]], "input.ticket.more"),
        ]
        for (template, path) in cases {
            XCTAssertThrowsError(try Templates.fill(template, input: input), path) { error in
                XCTAssertEqual(error as? Templates.MissingField, Templates.MissingField(path: path))
            }
        }
    }

    func test_missing_listsEveryUnfillablePlaceholderOnce_andAgreesWithFill() throws {
        let cases: [(String, JSON, [String])] = [
            ("all present", ["a": "{{input.ticket}}", "b": ["{{input.caller.name}}"]], []),
            ("each gap once, in order", ["a": "{{input.x}} {{input.caller.age}}", "b": "{{input.x}}"], ["input.x", "input.caller.age"]),
            ("foreign namespaces are gaps", "{{secrets.key}}", ["secrets.key"]),
            ("a null input value fills", "[{{input.empty}}]", []),
            ("an unclosed brace is text", "a {{input.nope", []),
            ("a lone odd placeholder agrees with fill", "{{input.ticket}}x}}", ["input.ticket}}x"]),
        ]
        for (name, value, expected) in cases {
            let missing = Templates.missing(in: value, input: input)
            XCTAssertEqual(missing, expected, name)
            XCTAssertEqual(missing.isEmpty, (try? Templates.fill(value, input: input)) != nil, "\(name): missing() and fill() agree")
        }
    }
}
