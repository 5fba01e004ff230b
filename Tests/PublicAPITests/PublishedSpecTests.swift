import Foundation
import NeoJSON
import XCTest
@testable import PublicAPI

/// The spec is written once (openapi/spec.py) and checked where it is copied: the document the binary
/// serves is byte for byte openapi/openapi.json, and the server's agent enums are the spec's.
final class PublishedSpecTests: XCTestCase {
    private var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func test_embeddedDocument_isOpenapiJSON() throws {
        let published = try String(contentsOf: repository.appendingPathComponent("openapi/openapi.json"), encoding: .utf8)
        XCTAssertEqual(OpenAPIDocument.json, published, "Sources/PublicAPI/Meta/EmbeddedOpenAPI.swift is stale: run `make embed`")
    }

    func test_agentEnums_areTheSpecsEnums() throws {
        let spec = try JSON.parse(OpenAPIDocument.json)
        let agent = try XCTUnwrap(spec["components"]?["schemas"]?["Agent"]?["properties"])
        func values(_ property: JSON?) -> [String] {
            (property?["enum"] ?? property?["anyOf"]?.arrayValue?.first?["enum"])?.arrayValue?.compactMap(\.stringValue) ?? []
        }
        XCTAssertEqual(values(agent["state"]), AgentSchema.states)
        XCTAssertEqual(values(agent["trigger_type"]), AgentSchema.triggerTypes)
        XCTAssertEqual(values(agent["autonomy_type"]), AgentSchema.autonomyTypes)
        XCTAssertEqual(values(agent["entity_type"]), AgentSchema.entityTypes)
    }
}
