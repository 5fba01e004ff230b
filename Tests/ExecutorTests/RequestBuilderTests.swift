import Executor
import NeoJSON
import XCTest

/// Header sanitization, typed bodies, auth injection and redaction.
final class RequestBuilderTests: XCTestCase {
    func test_headerProblem_refusesManagedHeadersAndInjection() {
        let refused: [(String, String)] = [
            ("Authorization", "x"), ("authorization", "x"), ("Cookie", "a=b"), ("Host", "evil"), ("Transfer-Encoding", "chunked"),
            ("Content-Length", "5"), ("Connection", "close"), ("Proxy-Authorization", "x"), ("proxy-connection", "x"),
            ("X-Ok", "a\r\nHost: evil"), ("X-Ok", "a\nb"), ("X-Ok", "a\u{0}b"), ("X-Ok", "a\u{7f}"), ("Bad Name", "x"),
            ("Bad:Name", "x"), ("", "x"), ("X-\r\nInjected", "x"), ("Naïve", "x"),
        ]
        for (name, value) in refused { XCTAssertNotNil(RequestBuilder.headerProblem(name: name, value: value), "\(name): \(value)") }
        for (name, value) in [("X-Request-Source", "neo"), ("Api-Version", "2024-01"), ("Accept", "application/json"), ("X-Tab", "a\tb")] {
            XCTAssertNil(RequestBuilder.headerProblem(name: name, value: value), name)
        }
    }

    /// A fixed endpoint's URL is made once per config; a path, a query item, or a later change of the request's
    /// base or query items must still be in the URL sent.
    func test_url_ofAFixedEndpoint_isCachedButFollowsEveryChange() throws {
        let config = ExternalAPIConfig(name: "t", endpointURL: "https://api.example.com:8443/v1?fixed=1", auth: .apiKeyQuery(paramName: "key", apiKey: "k 1"))
        var request = try RequestBuilder.build(config, Invocation())
        XCTAssertEqual(request.url, "https://api.example.com:8443/v1?fixed=1&key=k%201")
        XCTAssertEqual(request.redactedURL, "https://api.example.com:8443/v1?fixed=1&key=***")
        let plain = ExternalAPIConfig(name: "t", endpointURL: "https://api.example.com/v1")
        request = try RequestBuilder.build(plain, Invocation())
        XCTAssertEqual(request.url, "https://api.example.com/v1")
        request.queryItems = try RequestBuilder.build(plain, Invocation(query: [("added", "yes")])).queryItems
        XCTAssertEqual(request.url, "https://api.example.com/v1?added=yes")
        request = try RequestBuilder.build(plain, Invocation())
        guard case .success(let other) = UpstreamURL.parse("https://api.example.com/v2") else { return XCTFail("parse") }
        request.base = other
        XCTAssertEqual(request.url, "https://api.example.com/v2")
        XCTAssertEqual(try RequestBuilder.build(plain, Invocation(path: "/users")).url, "https://api.example.com/v1/users")
        XCTAssertEqual(try RequestBuilder.build(plain, Invocation(query: [("q", "a b")])).url, "https://api.example.com/v1?q=a%20b")
    }

    /// The credentials cached with a config (its auth header, secrets, scrub list) never reach a copy whose secrets
    /// were rewritten: a masked or sealed copy must not carry the plaintext ones.
    func test_mappedSecrets_neverShareTheOriginalsCachedCredentials() throws {
        let config = ExternalAPIConfig(name: "t", endpointURL: "https://api.example.com", headers: [ConfigHeader(name: "X-Key", value: "plain-header", secret: true)],
                                       auth: .bearer(token: "plain-token"))
        XCTAssertEqual(config.secretValues, ["plain-header", "plain-token"])
        XCTAssertEqual(try RequestBuilder.build(config, Invocation()).headers.last?.value, "Bearer plain-token")
        let masked = config.mapSecrets { _, _ in "MASKED" }
        XCTAssertEqual(masked.secretValues, ["MASKED", "MASKED"])
        let headers = try RequestBuilder.build(masked, Invocation()).headers
        XCTAssertEqual(headers.map(\.value), ["MASKED", "Bearer MASKED"])
        XCTAssertEqual(config.secretValues, ["plain-header", "plain-token"], "the original keeps its own")
    }

    func test_build_refusesCallerHeadersThatOverrideTheConfig() {
        let config = ExternalAPIConfig(name: "t", endpointURL: "https://h.example/", headers: [ConfigHeader(name: "Api-Version", value: "1")],
                                       auth: .apiKeyHeader(headerName: "X-Api-Key", apiKey: "k"))
        for name in ["x-api-key", "API-VERSION", "Cookie"] {
            XCTAssertThrowsError(try RequestBuilder.build(config, Invocation(headers: [(name, "v")])), name) {
                XCTAssertEqual(($0 as? ExecutorError)?.field, "headers.\(name)")
            }
        }
    }

    func test_buildBody_checksTypedFields() throws {
        let fields = [BodyField(name: "email", type: .String, required: true), BodyField(name: "count", type: .Number),
                      BodyField(name: "urgent", type: .Boolean)]
        let cases: [(JSONObject?, String?)] = [
            (["email": "a@b.c"], nil),
            (["email": "a@b.c", "count": 3, "urgent": true], nil),
            (["email": "a@b.c", "count": 2.5, "urgent": .null], nil),
            ([:], "body.email"),
            (nil, "body.email"),
            (["email": .null], "body.email"),
            (["email": 5], "body.email"),
            (["email": "x", "count": "3"], "body.count"),
            (["email": "x", "urgent": "true"], "body.urgent"),
            (["email": "x", "extra": 1], "body.extra"),
        ]
        for (body, badField) in cases {
            do {
                _ = try RequestBuilder.buildBody(.POST, fields, body)
                XCTAssertNil(badField, "\(String(describing: body)) should fail")
            } catch let e as ExecutorError {
                XCTAssertEqual(e.field, badField, "\(String(describing: body))")
                XCTAssertEqual(e.kind, .invalidInput)
            }
        }
        let bytes = try RequestBuilder.buildBody(.POST, fields, ["urgent": false, "email": "a@b.c"])
        XCTAssertEqual(String(decoding: bytes!, as: UTF8.self), #"{"email":"a@b.c","urgent":false}"#)
        XCTAssertThrowsError(try RequestBuilder.buildBody(.GET, [], ["a": 1]))
        XCTAssertNil(try RequestBuilder.buildBody(.GET, [], nil))
        XCTAssertEqual(try RequestBuilder.buildBody(.PATCH, [], ["any": [1, 2]]).map { String(decoding: $0, as: UTF8.self) }, #"{"any":[1,2]}"#)
    }

    func test_build_injectsEachAuthTypeAndRedactsIt() throws {
        let cases: [(UpstreamAuth, String, String)] = [
            (.bearer(token: "tok-SECRET"), "Authorization", "Bearer tok-SECRET"),
            (.basic(username: "u", password: "pw-SECRET"), "Authorization", "Basic dTpwdy1TRUNSRVQ="),
            (.apiKeyHeader(headerName: "X-Api-Key", apiKey: "key-SECRET"), "X-Api-Key", "key-SECRET"),
        ]
        for (auth, header, value) in cases {
            let config = ExternalAPIConfig(name: "t", endpointURL: "https://h.example/v1", auth: auth)
            let r = try RequestBuilder.build(config, Invocation(path: "/x"))
            XCTAssertEqual(r.headers.first { $0.name == header }?.value, value)
            let shown = JSON.object(r.redacted()).serializedString()
            XCTAssertFalse(shown.contains("SECRET"), shown)
            XCTAssertTrue(shown.contains(#""\#(header)":"***""#), shown)
        }
        let query = ExternalAPIConfig(name: "t", endpointURL: "https://h.example/v1?fixed=1", auth: .apiKeyQuery(paramName: "api_key", apiKey: "q SECRET"))
        let r = try RequestBuilder.build(query, Invocation(path: "/x", query: [("q", "a&b")]))
        XCTAssertEqual(r.url, "https://h.example/v1/x?fixed=1&q=a%26b&api_key=q%20SECRET")
        XCTAssertEqual(r.redactedURL, "https://h.example/v1/x?fixed=1&q=a%26b&api_key=***")
        XCTAssertThrowsError(try RequestBuilder.build(query, Invocation(query: [("api_key", "mine")])))
    }

    func test_redacted_hidesSecretConfigHeaders() throws {
        let config = ExternalAPIConfig(name: "t", endpointURL: "https://h.example/", method: .POST,
                                       headers: [ConfigHeader(name: "X-Tenant", value: "acme"), ConfigHeader(name: "X-Sig", value: "sig-SECRET", secret: true)])
        let shown = try RequestBuilder.build(config, Invocation(body: ["a": 1])).redacted()
        XCTAssertEqual(shown["headers"], ["X-Tenant": "acme", "X-Sig": "***", "Content-Type": "application/json"])
        XCTAssertEqual(shown["body"], ["a": 1])
        XCTAssertEqual(shown["method"], "POST")
    }

    func test_mapSecrets_visitsEverySecretByStablePath() {
        let config = ExternalAPIConfig(name: "t", endpointURL: "https://h.example/",
                                       headers: [ConfigHeader(name: "X-Sig", value: "s1", secret: true), ConfigHeader(name: "X-Plain", value: "p")],
                                       auth: .oauth2ClientCredentials(.init(tokenURL: "https://h.example/token",
                                                                            params: [.init(key: "client_id", value: "id"), .init(key: "client_secret", value: "s2", secret: true)],
                                                                            tokenAuth: .init(username: "u", password: "s3"))))
        var paths: [String] = []
        let masked = config.mapSecrets { path, _ in paths.append(path); return "***" }
        XCTAssertEqual(paths, ["headers.X-Sig", "auth.params.client_secret", "auth.token_auth.password"])
        XCTAssertEqual(config.secretValues, ["s1", "s2", "s3"])
        XCTAssertEqual(masked.secretValues, ["***", "***", "***"])
    }

    func test_tokenResponse_parsesGrantsAndProviderErrors() {
        func parse(_ status: Int, _ body: String) -> Result<OAuthTokenCache.Grant, ExecutorError> {
            TokenResponse.parse(status: status, body: Array(body.utf8))
        }
        XCTAssertEqual(try parse(200, #"{"access_token":"a","expires_in":120}"#).get(), .init(accessToken: "a", lifetime: 120))
        XCTAssertEqual(try parse(200, #"{"access_token":"a","expires_in":"60"}"#).get(), .init(accessToken: "a", lifetime: 60))
        XCTAssertEqual(try parse(200, #"{"access_token":"a"}"#).get(), .init(accessToken: "a", lifetime: 3600))
        XCTAssertThrowsError(try parse(200, #"{"token":"a"}"#).get())
        XCTAssertThrowsError(try parse(401, #"{"error":"invalid_client","error_description":"bad secret"}"#).get()) {
            XCTAssertEqual(($0 as? ExecutorError)?.message, "token endpoint answered 401: invalid_client (bad secret)")
            XCTAssertEqual(($0 as? ExecutorError)?.kind, .token)
        }
    }

    func test_diagnosis_explainsTheStatus() {
        XCTAssertEqual(ConnectionDiagnosis.describe(status: 200, auth: .bearer(token: "x")), "credentials accepted (upstream answered 200)")
        XCTAssertEqual(ConnectionDiagnosis.describe(status: 401, auth: .bearer(token: "x")), "upstream answered 401: check the credentials")
        XCTAssertEqual(ConnectionDiagnosis.describe(status: 204, auth: .none), "reachable (upstream answered 204)")
    }
}
