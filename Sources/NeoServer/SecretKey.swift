import Basics
import Foundation
import Store
#if canImport(Glibc)
import Glibc
#endif

/// The 32-byte key that seals stored secrets: `NEO_SECRET_KEY` (base64), else the key file
/// (`NEO_SECRET_KEY_FILE`, default `secret.key` beside the DB), created 0600 on first run.
enum SecretKey {
    struct Problem: Error, CustomStringConvertible { let description: String }

    /// The key, and the path of the key file when this call created it (the caller tells the user
    /// to back it up once startup has succeeded, or removes it when startup fails).
    static func load(_ config: Config) throws -> (key: [UInt8], createdFile: String?) {
        if let text = config.secretKey {
            guard let key = decode(text) else {
                throw Problem(description: "NEO_SECRET_KEY must be base64 of exactly 32 bytes (make one with: openssl rand -base64 32)")
            }
            return (key, nil)
        }
        if config.secretKeyFile == nil && isPostgresURL(config.db) {
            throw Problem(description: "NEO_DB is a PostgreSQL database: set NEO_SECRET_KEY or NEO_SECRET_KEY_FILE "
                          + "(every node sharing the database needs the same key; there is no file beside the database to create one in)")
        }
        let path = config.secretKeyFile
            ?? URL(fileURLWithPath: config.db).deletingLastPathComponent().appendingPathComponent("secret.key").path
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & 0o077 == 0 else {
                throw Problem(description: "secret key file \(path) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)")
            }
            guard let data = FileManager.default.contents(atPath: path),
                  let key = decode(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw Problem(description: "secret key file \(path) must hold base64 of exactly 32 bytes")
            }
            return (key, nil)
        }
        return (try create(path), path)
    }

    /// Writes a new random key with O_EXCL and mode 0600, so it is never briefly readable by others.
    private static func create(_ path: String) throws -> [UInt8] {
        let key = SecureRandom.bytes(32)
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Problem(description: "cannot create secret key file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let line = Array((Data(key).base64EncodedString() + "\n").utf8)
        guard write(fd, line, line.count) == line.count, fsync(fd) == 0 else {
            throw Problem(description: "cannot write secret key file \(path): \(String(cString: strerror(errno)))")
        }
        return key
    }

    private static func decode(_ text: String) -> [UInt8]? {
        guard let data = Data(base64Encoded: text), data.count == 32 else { return nil }
        return [UInt8](data)
    }
}
