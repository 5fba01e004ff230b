/// An ordered JSON object: keys keep insertion order (so documents round-trip byte-for-byte).
///
/// Keys are compared by their exact UTF-8 bytes (not Unicode canonical equivalence), matching
/// RFC 8259 member-name semantics. Equality is order-sensitive (like swift-collections'
/// OrderedDictionary), consistent with byte-for-byte serialization.
public struct JSONObject: Equatable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Element = (key: String, value: JSON)

    internal var _keys: [String]
    internal var _values: [JSON]
    /// Key → position, maintained only when the object is large.
    internal var _index: [ByteKey: Int]?

    internal static var indexThreshold: Int { 12 }

    public init() {
        _keys = []
        _values = []
        _index = nil
    }

    /// Builds an object from pairs in order; a repeated key replaces the earlier value in place.
    public init(_ pairs: [(String, JSON)]) {
        self.init()
        _keys.reserveCapacity(pairs.count)
        _values.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    public init(dictionaryLiteral elements: (String, JSON)...) {
        self.init(elements)
    }

    public var count: Int { _keys.count }
    public var isEmpty: Bool { _keys.isEmpty }
    public var keys: [String] { _keys }

    /// Setting nil removes the key; setting an existing key keeps its position.
    public subscript(key: String) -> JSON? {
        get {
            guard let i = _find(key) else { return nil }
            return _values[i]
        }
        set {
            if let i = _find(key) {
                if let v = newValue {
                    _values[i] = v
                } else {
                    _remove(at: i)
                }
            } else if let v = newValue {
                _appendUnchecked(key, v)
            }
        }
    }

    public func contains(_ key: String) -> Bool { _find(key) != nil }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSON? {
        guard let i = _find(key) else { return nil }
        let v = _values[i]
        _remove(at: i)
        return v
    }

    public func makeIterator() -> Iterator { Iterator(keys: _keys, values: _values) }

    public struct Iterator: IteratorProtocol {
        let keys: [String]
        let values: [JSON]
        var i = 0
        init(keys: [String], values: [JSON]) {
            self.keys = keys
            self.values = values
        }
        public mutating func next() -> (key: String, value: JSON)? {
            guard i < keys.count else { return nil }
            defer { i += 1 }
            return (keys[i], values[i])
        }
    }

    public var underestimatedCount: Int { _keys.count }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs._keys.count == rhs._keys.count else { return false }
        for i in 0..<lhs._keys.count where !utf8Equal(lhs._keys[i], rhs._keys[i]) { return false }
        return lhs._values == rhs._values
    }

    // MARK: internals

    internal func _find(_ key: String) -> Int? {
        if let index = _index { return index[ByteKey(key)] }
        for i in 0..<_keys.count where utf8Equal(_keys[i], key) { return i }
        return nil
    }

    /// Appends without checking for an existing key (caller guarantees absence).
    internal mutating func _appendUnchecked(_ key: String, _ value: JSON) {
        _keys.append(key)
        _values.append(value)
        if _index != nil {
            _index![ByteKey(key)] = _keys.count - 1
        } else if _keys.count > JSONObject.indexThreshold {
            _rebuildIndex()
        }
    }

    internal mutating func _remove(at i: Int) {
        _keys.remove(at: i)
        _values.remove(at: i)
        if _index != nil { _rebuildIndex() }
    }

    internal mutating func _rebuildIndex() {
        guard _keys.count > JSONObject.indexThreshold else { _index = nil; return }
        var index = [ByteKey: Int](minimumCapacity: _keys.count)
        for (i, k) in _keys.enumerated() { index[ByteKey(k)] = i }
        _index = index
    }
}

/// A string key hashed and compared by its UTF-8 bytes.
internal struct ByteKey: Hashable, Sendable {
    let s: String
    init(_ s: String) { self.s = s }
    static func == (a: ByteKey, b: ByteKey) -> Bool { utf8Equal(a.s, b.s) }
    func hash(into hasher: inout Hasher) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil {
            var c = s
            c.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }
}

/// Exact byte equality of two strings' UTF-8 (Swift's `==` uses canonical equivalence).
@inline(__always)
internal func utf8Equal(_ a: String, _ b: String) -> Bool {
    let au = a.utf8, bu = b.utf8
    guard au.count == bu.count else { return false }
    let r: Bool?? = au.withContiguousStorageIfAvailable { pa in
        bu.withContiguousStorageIfAvailable { pb in bytesEqual(pa, pb) }
    }
    if let r, let r { return r }
    return au.elementsEqual(bu)
}

@inline(__always)
internal func bytesEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    let n = a.count
    guard n == b.count else { return false }
    var i = 0
    while i < n {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
