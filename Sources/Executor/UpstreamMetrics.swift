import Basics

/// What an outbound call is for: the `kind` label of the upstream metrics (never a config name).
public enum UpstreamKind: String, Sendable, CaseIterable {
    case externalAPI = "external_api"
    case model
    case oauthToken = "oauth_token"
}

/// Upstream calls by kind and outcome (status class, `timeout`, `error`) with their latency, and the
/// OAuth2 token cache's fetches and hits. Every series exists from the first use; recording is one
/// table index and relaxed atomic adds on the curl thread.
public enum UpstreamMetrics {
    enum Outcome: Int, CaseIterable {
        case c1xx, c2xx, c3xx, c4xx, c5xx, timeout, error
        var label: String { ["1xx", "2xx", "3xx", "4xx", "5xx", "timeout", "error"][rawValue] }
    }

    private static let calls: [[Counter]] = UpstreamKind.allCases.map { kind in
        Outcome.allCases.map { outcome in
            MetricsRegistry.shared.counter("neo_upstream_requests_total", help: "Upstream HTTP attempts (retries each count), by kind and outcome.",
                                           labels: [("kind", kind.rawValue), ("status", outcome.label)])
        }
    }

    private static let latency: [Histogram] = UpstreamKind.allCases.map { kind in
        MetricsRegistry.shared.histogram("neo_upstream_request_duration_seconds", help: "Upstream attempt duration, by kind.",
                                         labels: [("kind", kind.rawValue)])
    }

    static let tokenFetches = MetricsRegistry.shared.counter("neo_oauth_token_fetches_total",
                                                              help: "OAuth2 client-credentials token requests started.")
    static let tokenCacheHits = MetricsRegistry.shared.counter("neo_oauth_token_cache_hits_total",
                                                                help: "OAuth2 tokens answered from the cache (including callers that joined a fetch in flight).")

    static let modelInputTokens = MetricsRegistry.shared.counter("neo_model_tokens_total", help: "Model tokens reported by providers, by direction.",
                                                                  labels: [("direction", "input")])
    static let modelOutputTokens = MetricsRegistry.shared.counter("neo_model_tokens_total", help: "Model tokens reported by providers, by direction.",
                                                                   labels: [("direction", "output")])

    static func record(_ kind: UpstreamKind, status: Int, seconds: Double) {
        let outcome: Outcome
        switch status {
        case 100..<200: outcome = .c1xx
        case 200..<300: outcome = .c2xx
        case 300..<400: outcome = .c3xx
        case 400..<500: outcome = .c4xx
        case 500..<600: outcome = .c5xx
        default: outcome = .error
        }
        record(kind, outcome: outcome, seconds: seconds)
    }

    static func record(_ kind: UpstreamKind, outcome: Outcome, seconds: Double) {
        let k: Int  // the position in allCases, without building that array on every call
        switch kind {
        case .externalAPI: k = 0
        case .model: k = 1
        case .oauthToken: k = 2
        }
        calls[k][outcome.rawValue].add()
        latency[k].observe(seconds)
    }

    /// Creates every series, so a scrape shows zeros before the first call.
    public static func register() {
        _ = calls
        _ = latency
        _ = tokenFetches
        _ = tokenCacheHits
        _ = modelInputTokens
        _ = modelOutputTokens
    }
}
