import Basics
import Foundation

/// The console for people (design §14): `GET /` is its page and `GET /console/{file}` its modules, styles
/// and icon, all embedded in the binary. No key is needed to load it; the page itself calls the public API
/// with the key a person pastes.
enum ConsoleRoutes {
    /// Only this origin's files run, nothing inline (no script, no style attribute), no framing, no plugins,
    /// and the page talks to nothing but its own server.
    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
        "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'", "object-src 'none'",
    ].joined(separator: "; ")

    /// One embedded file, ready to serve.
    struct Asset: Sendable {
        let body: [UInt8]
        let contentType: String
        /// Strong validator: the first 16 bytes of the body's SHA-256.
        let etag: String
    }

    static func contentType(of name: String) -> String? {
        switch name.split(separator: ".").last {
        case "html": return "text/html; charset=utf-8"
        case "js": return "text/javascript; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "svg": return "image/svg+xml"
        default: return nil
        }
    }

    static func assets(_ files: [(name: String, text: String)]) -> [String: Asset] {
        var out: [String: Asset] = [:]
        for (name, text) in files {
            guard let type = contentType(of: name) else { continue }
            let body = Array(text.utf8)
            let etag = "\"" + SHA256.hash(body).prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
            out[name] = Asset(body: body, contentType: type, etag: etag)
        }
        return out
    }

    /// The embedded files, read and hashed on the first request for one rather than on every start (a cold start's
    /// time: the CI starts that never load the console do not pay for it).
    private static let embedded = assets(EmbeddedConsole.files)

    static func routes() -> [Route] {
        return [
            Route("GET", "/", access: .open, blocking: false) { ctx in
                guard let page = embedded["index.html"] else { throw APIError.notFound("the console is not built into this binary") }
                return serve(page, ctx)
            },
            Route("GET", "/console/{file}", access: .open, blocking: false) { ctx in
                let name = ctx.params["file"] ?? ""
                // index.html lives at / only, so the page has one address (and one CSP context).
                guard name != "index.html", let asset = embedded[name] else {
                    throw APIError.notFound("no console file '\(name.prefix(64))'")
                }
                return serve(asset, ctx)
            },
        ]
    }

    /// The file with its type, the CSP and revalidation by ETag (`no-cache`: a new binary's files show at once).
    static func serve(_ asset: Asset, _ ctx: RequestContext) -> Reply {
        var reply = Reply(headers: [
            ("Content-Type", asset.contentType), ("Cache-Control", "no-cache"), ("ETag", asset.etag),
            ("Content-Security-Policy", contentSecurityPolicy), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"), ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
        ])
        if let inm = ctx.request.headers["If-None-Match"],
           inm.split(separator: ",").contains(where: { let t = $0.trimmingCharacters(in: .whitespaces); return t == asset.etag || t == "*" }) {
            reply.status = 304
            reply.rawBody = []
        } else {
            reply.rawBody = asset.body
        }
        return reply
    }
}
