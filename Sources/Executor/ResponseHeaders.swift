import CShim
import Foundation

/// A response's header fields as the curl thread received them: one byte buffer, `Name: value\n` per
/// field (the value trimmed), turned into `String` pairs only when someone reads them. So the curl thread,
/// which every call shares, makes no strings for headers that nobody may look at, and the pairs are made
/// on the reader's thread.
public struct ResponseHeaders: Sendable, Sequence {
    /// The kept fields, each `name:value\n`.
    private(set) var bytes: [UInt8] = []
    public private(set) var count = 0

    public init() {}

    public init(_ pairs: [(String, String)]) {
        for (name, value) in pairs { append(name: Array(name.utf8)[...], value: Array(value.utf8)[...]) }
    }

    mutating func reserve(_ n: Int) { bytes.reserveCapacity(n) }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        count = 0
    }

    /// Appends one field. A newline inside either part would split it on reading, so it never gets in
    /// (curl hands each line over on its own, its end already trimmed).
    mutating func append(name: some Collection<UInt8>, value: some Collection<UInt8>) {
        guard !name.contains(0x0a), !name.contains(0x3a), !value.contains(0x0a) else { return }
        bytes.append(contentsOf: name)
        bytes.append(0x3a)
        bytes.append(contentsOf: value)
        bytes.append(0x0a)
        count += 1
    }

    /// Whether `needle`'s bytes occur in any field (a secret echoed back).
    func contains(bytes needle: String) -> Bool {
        var needle = needle
        return needle.withUTF8 { n in bytes.withUnsafeBufferPointer { containsBytes($0, n) } }
    }

    /// The first value of `name` (ASCII case-insensitive), or nil.
    public func value(named name: String) -> String? {
        let lower = asciiLowercased(name)
        return first { asciiLowercased($0.0) == lower }?.1
    }

    public var pairs: [(String, String)] { Array(self) }

    public func makeIterator() -> Iterator { Iterator(bytes: bytes) }

    public struct Iterator: IteratorProtocol {
        let bytes: [UInt8]
        var at = 0

        public mutating func next() -> (String, String)? {
            guard at < bytes.count, let end = bytes[at...].firstIndex(of: 0x0a), let colon = bytes[at..<end].firstIndex(of: 0x3a) else { return nil }
            defer { at = end + 1 }
            return (String(decoding: bytes[at..<colon], as: UTF8.self), String(decoding: bytes[(colon + 1)..<end], as: UTF8.self))
        }
    }
}

/// Whether `needle` occurs in `hay` (glibc's memmem: two-way search, not byte by byte in Swift).
func containsBytes(_ hay: UnsafeBufferPointer<UInt8>, _ needle: UnsafeBufferPointer<UInt8>) -> Bool {
    guard !needle.isEmpty, needle.count <= hay.count, let h = hay.baseAddress, let n = needle.baseAddress else { return false }
    return cshim_contains_bytes(h, hay.count, n, needle.count) == 1
}
