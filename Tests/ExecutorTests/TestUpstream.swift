import Basics
import Foundation
import HTTPServer

/// A real HTTP upstream on 127.0.0.1 (our HTTPServer) that records what it receives. The handler
/// returns the response and how long to wait before sending it (never blocking the loop).
final class TestUpstream: Sendable {
    typealias Handler = @Sendable (HTTPRequest) -> (HTTPResponse, delay: Double)
    private let server: HTTPServer
    /// Every request received, in arrival order.
    private let requests = Lock<[HTTPRequest]>([])
    let port: Int

    init(_ handler: @escaping Handler) throws {
        var config = HTTPServerConfiguration()
        config.host = "127.0.0.1"
        config.port = 0
        config.threads = 1
        config.shutdownDeadline = 1
        server = HTTPServer(configuration: config, handler: { [requests] request, responder in
            requests.withLock { $0.append(request) }
            let (response, delay) = handler(request)
            if delay > 0 {
                DispatchQueue.global().asyncAfter(deadline: .now() + delay) { responder.send(response) }
            } else {
                responder.send(response)
            }
        }, errorResponder: { HTTPResponse(status: $0.status) })
        port = try server.start()
    }

    var base: String { "http://127.0.0.1:\(port)" }
    var count: Int { requests.withLock { $0.count } }
    var last: HTTPRequest? { requests.withLock { $0.last } }

    func stop() { server.shutdown() }

    static func json(_ status: Int, _ body: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "application/json")] + headers.map { ($0.0, $0.1) }), body: Array(body.utf8))
    }
}
