import Basics
import Executor
import Foundation
import HTTPServer
import NeoJSON
import XCTest

/// The executor against real upstreams on 127.0.0.1 (policy `any` unless a test checks the policy).
final class CurlExecutorTests: XCTestCase {
    var upstreams: [TestUpstream] = []
    var executor: ExternalAPIExecutor!

    override func setUp() {
        executor = ExternalAPIExecutor(policy: .any)
    }

    override func tearDown() {
        executor.shutdown()
        upstreams.forEach { $0.stop() }
    }

    func upstream(_ handler: @escaping TestUpstream.Handler) throws -> TestUpstream {
        let u = try TestUpstream(handler)
        upstreams.append(u)
        return u
    }

    func echo() throws -> TestUpstream {
        try upstream { _ in (TestUpstream.json(200, #"{"ok":true}"#, headers: [("Set-Cookie", "s=1"), ("X-Upstream", "yes")]), 0) }
    }

    func run(_ config: ExternalAPIConfig, _ call: Invocation = Invocation()) -> Result<UpstreamResult, ExecutorError> {
        executor.invokeAndWait(config, call, tenant: "1")
    }

    func test_eachAuthType_isSeenByTheUpstream() throws {
        let u = try echo()
        let cases: [(UpstreamAuth, (HTTPRequest) -> Bool)] = [
            (.none, { $0.headers["Authorization"] == nil }),
            (.bearer(token: "tok-1"), { $0.headers["Authorization"] == "Bearer tok-1" }),
            (.basic(username: "alice", password: "pw:1"), { $0.headers["Authorization"] == "Basic " + Data("alice:pw:1".utf8).base64EncodedString() }),
            (.apiKeyHeader(headerName: "X-Api-Key", apiKey: "k-1"), { $0.headers["X-Api-Key"] == "k-1" && $0.headers["Authorization"] == nil }),
            (.apiKeyQuery(paramName: "api_key", apiKey: "q 1"), { $0.query == "v=2&api_key=q%201" }),
        ]
        for (auth, check) in cases {
            let config = ExternalAPIConfig(name: "t", endpointURL: u.base + "/v1", headers: [ConfigHeader(name: "Api-Version", value: "2024-01")], auth: auth)
            let result = try run(config, Invocation(path: "/users", query: [("v", "2")], headers: [("X-Trace", "abc")])).get()
            XCTAssertEqual(result.status, 200)
            let seen = try XCTUnwrap(u.last)
            XCTAssertEqual(seen.path, "/v1/users")
            XCTAssertEqual(seen.headers["Api-Version"], "2024-01")
            XCTAssertEqual(seen.headers["X-Trace"], "abc")
            XCTAssertTrue(check(seen), "\(auth.typeName): \(seen.headers.fields) \(seen.query ?? "")")
        }
    }

    func test_echoingUpstream_neverHandsSecretsBack() throws {
        let u = try upstream { request in
            let echoed = request.headers.fields.map { "\($0.name)=\($0.value)" }.joined(separator: ";") + "|" + (request.query ?? "")
            return (HTTPResponse(status: 200, headers: HTTPHeaders([("X-Echo", request.headers["X-Api-Key"] ?? "")]), body: Array(echoed.utf8)), 0)
        }
        let cases: [UpstreamAuth] = [.bearer(token: "CANARY-bearer"), .basic(username: "u", password: "CANARY-basic"),
                                     .apiKeyHeader(headerName: "X-Api-Key", apiKey: "CANARY-header"), .apiKeyQuery(paramName: "k", apiKey: "CANARY-query")]
        for auth in cases {
            let result = try run(ExternalAPIConfig(name: "t", endpointURL: u.base, auth: auth)).get()
            let shown = JSON.object(result.json()).serializedString()
            XCTAssertFalse(shown.contains("CANARY"), shown)
            XCTAssertFalse(shown.contains(Data("u:CANARY-basic".utf8).base64EncodedString()), shown)
            XCTAssertTrue(shown.contains("***"), shown)
        }
    }

    /// The auth header, the secrets and the scrub list are built once per config and shared by its copies:
    /// a copy whose auth or headers change must send, and scrub, its own, and the original keep its.
    func test_editedCredentials_areWhatTheNextCallSends_andTheOriginalKeepsItsOwn() throws {
        let u = try upstream { request in
            (HTTPResponse(status: 200, headers: HTTPHeaders([("X-Echo", request.headers["Authorization"] ?? "")]),
                          body: Array((request.headers["X-Key"] ?? "").utf8)), 0)
        }
        let first = ExternalAPIConfig(name: "t", endpointURL: u.base, headers: [ConfigHeader(name: "X-Key", value: "CANARY-one", secret: true)],
                                      auth: .bearer(token: "CANARY-bearer-1"))
        var result = try run(first).get()
        XCTAssertEqual(u.last?.headers["Authorization"], "Bearer CANARY-bearer-1")
        XCTAssertEqual(result.body, "***")
        XCTAssertEqual(result.headers.first { $0.0 == "X-Echo" }?.1, "***")

        var second = first
        second.auth = .bearer(token: "CANARY-bearer-2")
        second.headers[0].value = "CANARY-two"
        result = try run(second).get()
        XCTAssertEqual(u.last?.headers["Authorization"], "Bearer CANARY-bearer-2")
        XCTAssertEqual(u.last?.headers["X-Key"], "CANARY-two")
        XCTAssertEqual(result.body, "***", "the new header secret is scrubbed")
        XCTAssertEqual(result.headers.first { $0.0 == "X-Echo" }?.1, "***", "the new token is scrubbed")
        XCTAssertEqual(second.secretValues, ["CANARY-two", "CANARY-bearer-2"])

        var basic = second
        basic.auth = .basic(username: "u", password: "CANARY-pw")
        _ = try run(basic).get()
        XCTAssertEqual(u.last?.headers["Authorization"], RequestBuilder.basicAuthorization("u", "CANARY-pw"))

        _ = try run(first).get()
        XCTAssertEqual(u.last?.headers["Authorization"], "Bearer CANARY-bearer-1")
        XCTAssertEqual(u.last?.headers["X-Key"], "CANARY-one")
    }

    /// A configured Authorization header gives way to the auth's, never sent beside it.
    func test_configuredAuthorizationHeader_givesWayToTheAuth() throws {
        let u = try echo()
        let config = ExternalAPIConfig(name: "t", endpointURL: u.base, headers: [ConfigHeader(name: "authorization", value: "Token old", secret: true)],
                                       auth: .bearer(token: "tok-new"))
        _ = try run(config).get()
        let seen = try XCTUnwrap(u.last)
        XCTAssertEqual(seen.headers.fields.filter { $0.name.lowercased() == "authorization" }.map(\.value), ["Bearer tok-new"])
    }

    func test_result_dropsSetCookieAndCarriesTheBody() throws {
        let u = try echo()
        let result = try run(ExternalAPIConfig(name: "t", endpointURL: u.base)).get()
        let json = result.json()
        XCTAssertEqual(json["body"], #"{"ok":true}"#)
        XCTAssertEqual(json["truncated"], false)
        XCTAssertEqual(json["attempt"], 1)
        XCTAssertEqual(json["headers"]?["x-upstream"], "yes")
        XCTAssertNil(json["headers"]?["set-cookie"])
        XCTAssertEqual(json["bytes_total"], 11)
    }

    func test_methodsAndBodies_reachTheUpstream() throws {
        let u = try echo()
        for method in HTTPMethod.allCases {
            let config = ExternalAPIConfig(name: "t", endpointURL: u.base + "/items/{id}", method: method,
                                           bodyFields: method.hasBody ? [BodyField(name: "email", type: .String, required: true)] : [])
            let body: JSONObject? = method.hasBody ? ["email": "a@b.c"] : nil
            _ = try run(config, Invocation(body: body, params: ["id": "a b"])).get()
            let seen = try XCTUnwrap(u.last)
            XCTAssertEqual(seen.method, method.rawValue)
            XCTAssertEqual(seen.path, "/items/a%20b")
            if method.hasBody {
                XCTAssertEqual(String(decoding: seen.body, as: UTF8.self), #"{"email":"a@b.c"}"#)
                XCTAssertEqual(seen.headers["Content-Type"], "application/json")
            } else {
                XCTAssertTrue(seen.body.isEmpty)
            }
        }
    }

    func test_recycledHandles_carryNothingOverFromTheLastCall() throws {
        let u = try echo()
        let put = ExternalAPIConfig(name: "p", endpointURL: u.base + "/p", method: .PUT, headers: [ConfigHeader(name: "X-Only-Put", value: "1")],
                                    auth: .bearer(token: "put-token"))
        let get = ExternalAPIConfig(name: "g", endpointURL: u.base + "/g")
        for _ in 0..<3 {
            _ = try run(put, Invocation(body: ["a": 1])).get()
            _ = try run(get).get()
            let seen = try XCTUnwrap(u.last)
            XCTAssertEqual(seen.method, "GET")
            XCTAssertEqual(seen.path, "/g")
            XCTAssertTrue(seen.body.isEmpty)
            XCTAssertNil(seen.headers["X-Only-Put"])
            XCTAssertNil(seen.headers["Authorization"])
            XCTAssertNil(seen.headers["Content-Type"])
        }
    }

    // MARK: OAuth2

    final class TokenEndpoint: Sendable {
        let issued = Lock(0)
        let forms = Lock<[String]>([])
        let authorizations = Lock<[String?]>([])
        let expiresIn: Int
        init(expiresIn: Int) { self.expiresIn = expiresIn }
    }

    func oauthSetup(expiresIn: Int = 3600, apiRefuses: @escaping @Sendable (String) -> Bool = { _ in false })
        throws -> (ExternalAPIConfig, TokenEndpoint, TestUpstream) {
        let endpoint = TokenEndpoint(expiresIn: expiresIn)
        let tokens = try upstream { request in
            let n = endpoint.issued.withLock { $0 += 1; return $0 }
            endpoint.forms.withLock { $0.append(String(decoding: request.body, as: UTF8.self)) }
            endpoint.authorizations.withLock { $0.append(request.headers["Authorization"]) }
            // A slow token endpoint widens the window in which concurrent callers must wait.
            return (TestUpstream.json(200, #"{"access_token":"tok-\#(n)","token_type":"Bearer","expires_in":\#(endpoint.expiresIn)}"#), 0.2)
        }
        let api = try upstream { request in
            let auth = request.headers["Authorization"] ?? ""
            if !auth.hasPrefix("Bearer tok-") || apiRefuses(auth) { return (TestUpstream.json(401, #"{"error":"unauthorized"}"#), 0) }
            // The token itself would be scrubbed from the result; its serial number is not a secret.
            return (TestUpstream.json(200, #"{"token":"\#(auth.dropFirst("Bearer tok-".count))"}"#), 0)
        }
        let config = ExternalAPIConfig(name: "crm", endpointURL: api.base + "/v1/contacts", auth: .oauth2ClientCredentials(.init(
            tokenURL: tokens.base + "/oauth/token",
            params: [.init(key: "grant_type", value: "client_credentials"), .init(key: "client_id", value: "my id"),
                     .init(key: "client_secret", value: "s3cr&t", secret: true), .init(key: "scope", value: "contacts.write")],
            tokenAuth: .init(username: "tu", password: "tp"))))
        return (config, endpoint, api)
    }

    func test_oauth2_fetchesOneTokenFor200ConcurrentCalls() throws {
        let (config, endpoint, _) = try oauthSetup()
        let statuses = Lock<[Int]>([])
        let group = DispatchGroup()
        for _ in 0..<200 {
            group.enter()
            executor.invoke(config, Invocation(), tenant: "1") { r in
                statuses.withLock { $0.append((try? r.get().status) ?? -1) }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(statuses.withLock { $0 }, Array(repeating: 200, count: 200))
        XCTAssertEqual(endpoint.issued.withLock { $0 }, 1)
        XCTAssertEqual(executor.tokens.fetchCount, 1)
        XCTAssertEqual(endpoint.forms.withLock { $0 }, ["grant_type=client_credentials&client_id=my%20id&client_secret=s3cr%26t&scope=contacts.write"])
        XCTAssertEqual(endpoint.authorizations.withLock { $0 }, ["Basic " + Data("tu:tp".utf8).base64EncodedString()])
    }

    func test_oauth2_refreshesAfterExpiry() throws {
        let (config, endpoint, _) = try oauthSetup(expiresIn: 31)  // refresh once under 30 s remain: after ~1 s
        XCTAssertEqual(try run(config).get().body, #"{"token":"1"}"#)
        XCTAssertEqual(try run(config).get().body, #"{"token":"1"}"#)
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertEqual(try run(config).get().body, #"{"token":"2"}"#)
        XCTAssertEqual(endpoint.issued.withLock { $0 }, 2)
    }

    func test_oauth2_401InvalidatesTheTokenAndRetriesOnce() throws {
        let (config, endpoint, api) = try oauthSetup(apiRefuses: { $0 == "Bearer tok-1" })
        let result = try run(config).get()
        XCTAssertEqual(result.status, 200)
        XCTAssertEqual(result.attempt, 2)
        XCTAssertEqual(endpoint.issued.withLock { $0 }, 2)
        XCTAssertEqual(api.count, 2)
        XCTAssertEqual(try run(config).get().attempt, 1, "the fresh token is cached")
    }

    func test_oauth2_persistent401IsReturnedAfterOneRetry() throws {
        let (config, endpoint, api) = try oauthSetup(apiRefuses: { _ in true })
        let result = try run(config).get()
        XCTAssertEqual(result.status, 401)
        XCTAssertEqual(result.attempt, 2)
        XCTAssertEqual(endpoint.issued.withLock { $0 }, 2)
        XCTAssertEqual(api.count, 2)
    }

    func test_oauth2_tokenEndpointErrorNamesTheProviderCodeButNoSecret() throws {
        let tokens = try upstream { _ in
            (TestUpstream.json(401, #"{"error":"invalid_client","error_description":"client_secret s3cr-CANARY is wrong"}"#), 0)
        }
        let config = ExternalAPIConfig(name: "crm", endpointURL: "http://127.0.0.1:1/", auth: .oauth2ClientCredentials(.init(
            tokenURL: tokens.base + "/token", params: [.init(key: "client_secret", value: "s3cr-CANARY", secret: true)])))
        guard case .failure(let e) = run(config) else { return XCTFail("expected a token error") }
        XCTAssertEqual(e.kind, .token)
        XCTAssertEqual(e.message, "token endpoint answered 401: invalid_client (client_secret *** is wrong)")
    }

    // MARK: limits and safety

    func test_timeout_isReportedAsTimeout() throws {
        let u = try upstream { _ in (TestUpstream.json(200, "{}"), 1.5) }
        var config = ExternalAPIConfig(name: "slow", endpointURL: u.base)
        config.timeoutMs = 300
        let started = Date()
        guard case .failure(let e) = run(config) else { return XCTFail("expected a timeout") }
        XCTAssertEqual(e.kind, .timeout)
        XCTAssertEqual(e.message, "the upstream did not answer within 300 ms")
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.2)
    }

    func test_response_isCappedAndMarkedTruncated() throws {
        let big = String(repeating: "é", count: 10_000)  // 20 000 bytes, 2 per character
        let u = try upstream { request in
            request.path == "/huge" ? (HTTPResponse(status: 200, body: [UInt8](repeating: 65, count: 3 << 20)), 0)
                : (HTTPResponse(status: 200, body: Array(big.utf8)), 0)
        }
        var config = ExternalAPIConfig(name: "big", endpointURL: u.base)
        config.maxResponseBytes = 101
        let result = try run(config, Invocation(path: "/page")).get()
        XCTAssertTrue(result.truncated)
        XCTAssertEqual(result.bytesTotal, 20_000)
        XCTAssertEqual(result.body, String(repeating: "é", count: 50), "a split character is dropped, not mangled")
        let huge = try run(config, Invocation(path: "/huge")).get()
        XCTAssertTrue(huge.truncated)
        XCTAssertNil(huge.bytesTotal, "the transfer is cut once far past the cap")
        XCTAssertEqual(huge.body.utf8.count, 101)
    }

    func test_redirectToAnotherOrigin_isNotFollowed() throws {
        let elsewhere = try echo()
        let u = try upstream { _ in (HTTPResponse(status: 302, headers: HTTPHeaders([("Location", elsewhere.base + "/steal")])), 0) }
        let result = try run(ExternalAPIConfig(name: "r", endpointURL: u.base)).get()
        XCTAssertEqual(result.status, 302)
        XCTAssertEqual(elsewhere.count, 0)
    }

    func test_privatePolicy_refusesLoopbackAndMetadataBeforeConnecting() throws {
        let u = try echo()
        executor.shutdown()
        executor = ExternalAPIExecutor(policy: .privateAllowed)
        for endpoint in [u.base, "http://169.254.169.254/latest/meta-data/", "http://[::1]:\(u.port)/", "http://0.0.0.0:\(u.port)/"] {
            guard case .failure(let e) = run(ExternalAPIConfig(name: "x", endpointURL: endpoint)) else { return XCTFail(endpoint) }
            XCTAssertEqual(e.kind, .refused, endpoint)
            XCTAssertTrue(e.message.contains("NEO_UPSTREAM_POLICY=private"), e.message)
        }
        XCTAssertEqual(u.count, 0)
    }

    func test_nameResolvingToMetadata_isRefusedUnderPrivate() {
        executor.shutdown()
        executor = ExternalAPIExecutor(policy: .privateAllowed, resolve: { _, _ in [IPAddress("169.254.169.254")!] })
        guard case .failure(let e) = run(ExternalAPIConfig(name: "x", endpointURL: "http://metadata.internal.example/")) else { return XCTFail() }
        XCTAssertEqual(e.message, "'metadata.internal.example' resolves to 169.254.169.254, which is a metadata address, refused by NEO_UPSTREAM_POLICY=private")
    }

    func test_loopbackPolicy_refusesNamesWithoutAnyLookupAndOtherAddresses() throws {
        let u = try echo()
        executor.shutdown()
        executor = ExternalAPIExecutor(policy: .loopbackOnly, resolve: { host, port in
            // Literals resolve without DNS; the only name that may be looked up is localhost.
            XCTAssertTrue(IPAddress(host) != nil || host == "localhost", "\(host) was looked up under loopback")
            return try HostResolver.resolve(host, port: port)
        })
        for endpoint in ["http://api.example.com/", "http://10.0.0.1/", "http://192.168.1.1:\(u.port)/", "http://8.8.8.8/",
                         "http://169.254.169.254/", "http://0.0.0.0:\(u.port)/"] {
            guard case .failure(let e) = run(ExternalAPIConfig(name: "x", endpointURL: endpoint)) else { return XCTFail(endpoint) }
            XCTAssertEqual(e.kind, .refused, endpoint)
            XCTAssertTrue(e.message.contains("NEO_UPSTREAM_POLICY=loopback"), e.message)
        }
        XCTAssertEqual(u.count, 0)
        XCTAssertEqual(try run(ExternalAPIConfig(name: "x", endpointURL: u.base)).get().status, 200)
        XCTAssertEqual(try run(ExternalAPIConfig(name: "x", endpointURL: "http://localhost:\(u.port)/")).get().status, 200)
    }

    func test_pinnedAddress_isTheOneConnectedTo() throws {
        let u = try echo()
        executor.shutdown()
        // A name that does not exist in DNS reaches the upstream only through the CURLOPT_RESOLVE pin.
        executor = ExternalAPIExecutor(policy: .any, resolve: { _, _ in [IPAddress("127.0.0.1")!] })
        let result = try run(ExternalAPIConfig(name: "x", endpointURL: "http://pinned.invalid:\(u.port)/")).get()
        XCTAssertEqual(result.status, 200)
        XCTAssertEqual(u.last?.headers["Host"], "pinned.invalid:\(u.port)")
    }

    /// Connections the upstream closes after each answer, socket numbers reused by new connections, and
    /// an upstream that goes away while its idle connections sit in the multi handle's cache: later
    /// calls neither stall nor fail, and calls to the gone upstream fail as upstream errors.
    func test_connectionsClosedOrGone_neverStallLaterCalls() throws {
        let keep = try echo()
        let closing = try upstream { _ in (TestUpstream.json(200, "{}", headers: [("Connection", "close")]), 0) }
        // Not in `upstreams`: this test stops it (a second stop would wait forever).
        let going = try TestUpstream { _ in (TestUpstream.json(200, "{}"), 0) }
        let configs = [ExternalAPIConfig(name: "keep", endpointURL: keep.base), ExternalAPIConfig(name: "closing", endpointURL: closing.base),
                       ExternalAPIConfig(name: "going", endpointURL: going.base)]
        let group = DispatchGroup()
        let failures = Lock<[String]>([])
        for round in 0..<2 {
            if round == 1 { going.stop() }  // its parked connections are closed by the peer
            for i in 0..<60 {
                let config = configs[i % 3]
                group.enter()
                executor.invoke(config, Invocation(), tenant: "1") { r in
                    switch (config.name, r, round) {
                    case ("going", .failure(let e), 1) where e.kind == .upstream: break
                    case (_, .success(let u), _) where u.status == 200 && !(config.name == "going" && round == 1): break
                    default: failures.withLock { $0.append("\(config.name) round \(round): \(r)") }
                    }
                    group.leave()
                }
            }
            XCTAssertEqual(group.wait(timeout: .now() + 20), .success, "calls stalled in round \(round)")
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        XCTAssertGreaterThanOrEqual(closing.count, 40)
    }

    func test_unreachableUpstream_isAnUpstreamError() {
        guard case .failure(let e) = run(ExternalAPIConfig(name: "x", endpointURL: "http://127.0.0.1:1/")) else { return XCTFail() }
        XCTAssertEqual(e.kind, .upstream)
    }

    func test_headerInjection_isRefusedBeforeSending() throws {
        let u = try echo()
        let config = ExternalAPIConfig(name: "x", endpointURL: u.base)
        for (name, value) in [("X-A", "1\r\nX-Injected: 1"), ("Host", "evil.example"), ("Authorization", "Bearer mine"), ("Proxy-Authorization", "x")] {
            guard case .failure(let e) = run(config, Invocation(headers: [(name, value)])) else { return XCTFail(name) }
            XCTAssertEqual(e.kind, .invalidInput)
            XCTAssertEqual(e.field, "headers.\(name)")
        }
        XCTAssertEqual(u.count, 0)
    }
}
