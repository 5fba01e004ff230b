/// "Did you mean …?" for an unknown body field or query parameter: the known name it is closest to.
/// Pure; used by `FieldReader.warnUnknown` and the unknown-query-parameter warnings.
enum NameSuggestion {
    /// Names clients bring from other APIs, keyed by their normalized form; suggested only where
    /// the name they map to is accepted.
    static let synonyms: [String: String] = [
        "limit": "page_size", "perpage": "page_size", "pagelimit": "page_size", "size": "page_size", "count": "page_size",
        "maxresults": "page_size",
        "offset": "cursor", "page": "cursor", "after": "cursor", "startingafter": "cursor", "nextcursor": "cursor",
        "pagetoken": "cursor", "nextpagetoken": "cursor",
        "search": "q", "query": "q",
        "status": "state", "state": "status",
    ]

    /// The known name `name` most likely means: the same up to case, `-` and `_`; else a known synonym;
    /// else the nearest by edit distance (1 for names up to 6 characters, 2 beyond, none under 4).
    /// Ties go to the earlier known name.
    static func closest(to name: String, among known: [String]) -> String? {
        let target = normalized(name)
        if let same = known.first(where: { normalized($0) == target }) { return same }
        if let synonym = synonyms[target], known.contains(synonym) { return synonym }
        let length = target.utf8.count
        guard length >= 4 else { return nil }
        let limit = length <= 6 ? 1 : 2
        var best: (name: String, distance: Int)?
        for candidate in known {
            let d = distance(target, normalized(candidate))
            if d <= limit && d < (best?.distance ?? Int.max) { best = (candidate, d) }
        }
        return best?.name
    }

    /// `"unknown query parameter 'limit' ignored; did you mean 'page_size'?"`.
    static func unknownMessage(_ kind: String, _ name: String, suggestion: String?) -> String {
        "unknown \(kind) '\(name)' ignored" + (suggestion.map { "; did you mean '\($0)'?" } ?? "")
    }

    /// ASCII-lowercased bytes without `-` and `_`: `pageSize`, `page-size` and `page_size` are one name.
    static func normalized(_ s: String) -> String {
        String(decoding: s.utf8.compactMap { b -> UInt8? in
            if b == UInt8(ascii: "-") || b == UInt8(ascii: "_") { return nil }
            return (b >= 65 && b <= 90) ? b | 0x20 : b
        }, as: UTF8.self)
    }

    /// Optimal-string-alignment distance over bytes: insertions, deletions, substitutions and adjacent
    /// swaps cost 1.
    static func distance(_ x: String, _ y: String) -> Int {
        let a = Array(x.utf8), b = Array(y.utf8)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], before[j - 2] + 1)
                }
            }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }
}
