import Basics
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The embedded migrations' schema as a database file (EmbeddedSchemaImage.swift, made by scripts/embed-migrations.sh):
/// a new SQLite database starts as a copy of it. Making the schema with its DDL was most of a first start's work
/// (SQLite parses every statement and rewrites sqlite_master for each) and the switch of an empty file to WAL four
/// fsyncs through a rollback journal; the copy is one write and one fsync, already in WAL mode.
///
/// The image's `user_version` is its schema version: `Store.migrate` then records migrations 1…N without running them
/// and clears the mark in the same transaction. A copy only lands complete: it is written to a temporary file, synced,
/// then linked to the database's name (link, unlike rename, fails when another process made the database meanwhile).
public enum SchemaImage {
    /// The decoded file: the spans in `encoded` over zeros.
    static func bytes() -> [UInt8]? {
        guard let blob = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters), blob.count >= 4 else { return nil }
        let raw = [UInt8](blob)
        func u32(_ at: Int) -> Int { Int(raw[at]) | Int(raw[at + 1]) << 8 | Int(raw[at + 2]) << 16 | Int(raw[at + 3]) << 24 }
        let size = u32(0)
        var file = [UInt8](repeating: 0, count: size)
        var at = 4
        while at + 8 <= raw.count {
            let (offset, length) = (u32(at), u32(at + 4))
            at += 8
            guard length <= raw.count - at, offset <= size - length else { return nil }
            file.replaceSubrange(offset..<offset + length, with: raw[at..<at + length])
            at += length
        }
        return at == raw.count ? file : nil
    }

    /// Creates `path` as a copy of the image when no file is there. True when it did; false when a file exists (or
    /// appeared meanwhile); throws when the copy cannot be written (the temporary file is removed).
    static func create(at path: String) throws -> Bool {
        var info = stat()
        if lstat(path, &info) == 0 || errno != ENOENT { return false }
        guard let image = bytes() else { throw StoreError(kind: .io, message: "the embedded schema image is damaged") }
        let temporary = "\(path).image-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError(kind: .io, message: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        defer { unlink(temporary) }
        let wrote = image.withUnsafeBytes { writeFully(fd, $0) } && fdatasync(fd) == 0
        let problem = wrote ? nil : String(cString: strerror(errno))
        close(fd)
        if let problem { throw StoreError(kind: .io, message: "cannot write \(temporary): \(problem)") }
        if link(temporary, path) == 0 { return true }
        if errno == EEXIST { return false }
        throw StoreError(kind: .io, message: "cannot create \(path): \(String(cString: strerror(errno)))")
    }
}
