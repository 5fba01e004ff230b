import Foundation
import XCTest
@testable import PublicAPI

/// The console's files are written once (console/) and embedded by scripts/embed-console.sh: the binary's copy is
/// byte for byte the repository's, and nothing in them needs what the CSP forbids.
final class ConsoleAssetsTests: XCTestCase {
    private var consoleDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("console")
    }

    private func repositoryFiles() throws -> [String: String] {
        var out: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: consoleDirectory.path) {
            out[name] = try String(contentsOf: consoleDirectory.appendingPathComponent(name), encoding: .utf8)
        }
        return out
    }

    func test_embeddedFiles_areTheConsoleDirectory() throws {
        let files = try repositoryFiles()
        let embedded = Dictionary(EmbeddedConsole.files.map { ($0.name, $0.text) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(Set(embedded.keys), Set(files.keys), "Sources/PublicAPI/Console/EmbeddedConsole.swift is stale: run `make embed`")
        for (name, text) in files {
            XCTAssertEqual(embedded[name], text, "\(name) differs from its embedded copy: run `make embed`")
        }
    }

    func test_everyFile_hasAContentTypeAndAnETag() {
        let assets = ConsoleRoutes.assets(EmbeddedConsole.files)
        XCTAssertEqual(assets.count, EmbeddedConsole.files.count)
        XCTAssertNotNil(assets["index.html"])
        XCTAssertEqual(assets["app.js"]?.contentType, "text/javascript; charset=utf-8")
        XCTAssertEqual(Set(assets.values.map(\.etag)).count, assets.count, "distinct files have distinct ETags")
    }

    func test_page_hasNoInlineScriptStyleOrHandlers() throws {
        for (name, text) in try repositoryFiles() where name.hasSuffix(".html") || name.hasSuffix(".svg") {
            for pattern in [#"<script(?![^>]*\bsrc=)[^>]*>"#, #"\sstyle\s*="#, #"<style"#, #"\son[a-z]+\s*="#, #"javascript:"#] {
                XCTAssertNil(text.range(of: pattern, options: [.regularExpression, .caseInsensitive]), "\(name) matches \(pattern)")
            }
        }
    }

    func test_scripts_neverParseTextAsHTMLOrBuildCode() throws {
        for (name, text) in try repositoryFiles() where name.hasSuffix(".js") {
            for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage"] {
                XCTAssertFalse(text.contains(forbidden), "\(name) uses \(forbidden)")
            }
        }
    }

    func test_contentSecurityPolicy_isStrict() {
        let csp = ConsoleRoutes.contentSecurityPolicy
        for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'",
                          "base-uri 'none'", "object-src 'none'"] {
            XCTAssertTrue(csp.contains(directive), directive)
        }
        XCTAssertFalse(csp.contains("unsafe"))
    }
}
