import Basics
import CShim
import Foundation

/// Makes the writer's commits durable after the writer is free again. The writer connection runs with
/// `synchronous=NORMAL`: its COMMIT writes the WAL frames (the OS holds them, so a killed process loses nothing) but
/// does not fsync them. Each commit takes a number; `waitDurable` returns once one `fdatasync` of the WAL that began
/// after that commit has ended. So an acknowledged write has `synchronous=FULL`'s guarantee, while the next write
/// runs during the previous one's sync, and writers that commit during a sync share the next one (group fsync, as
/// PostgreSQL's WAL flush). What `synchronous=FULL` gave beyond that is the order of visibility: there, another
/// connection saw a commit only after its sync; here a read may see it up to one sync earlier (lost only if the
/// machine, not the process, stops within that sync).
///
/// A failed sync fails closed: the WAL's pages may be gone while the kernel no longer reports it, so every later
/// write is refused until the server is restarted (which replays the WAL from the disk).
final class WALSync: Sendable {
    private struct State {
        /// Commits numbered so far, and the highest number known durable.
        var committed: UInt64 = 0
        var durable: UInt64 = 0
        /// Whether a thread is syncing now (it alone uses `fd` meanwhile).
        var syncing = false
        var failure: String?
        var fd: Int32 = -1
        var syncs = 0
    }
    private let state = Lock(State())
    /// The WAL file (SQLite's own name for it).
    let path: String
    /// fdatasync, or a stand-in from a test (returns 0, or -1 with errno set).
    private let syncFile: @Sendable (Int32) -> Int32

    init(path: String, syncFile: (@Sendable (Int32) -> Int32)? = nil) {
        self.path = path
        self.syncFile = syncFile ?? { fdatasync($0) }
    }

    deinit {
        let fd = state.withLock { $0.fd }
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Why writes are refused, once a sync has failed.
    var failure: String? { state.withLock { $0.failure } }
    /// Syncs run so far (for tests).
    var syncs: Int { state.withLock { $0.syncs } }

    /// Numbers a commit that just ended; call it with the writer still held, so numbers follow the WAL's order.
    func committed() -> UInt64 {
        state.withLock { s in
            s.committed += 1
            return s.committed
        }
    }

    /// Returns once commit `number` is on the disk: joins a sync that began after it, or runs one.
    func waitDurable(_ number: UInt64) throws {
        while true {
            enum Next { case done, failed(String), sync(target: UInt64, fd: Int32) }
            let next = state.withLock(waitingUntil: { $0.durable >= number || !$0.syncing || $0.failure != nil }) { s -> Next in
                if let failure = s.failure { return .failed(failure) }
                if s.durable >= number { return .done }
                s.syncing = true
                return .sync(target: s.committed, fd: s.fd)
            }
            switch next {
            case .done:
                return
            case .failed(let reason):
                throw WALSync.error(reason)
            case .sync(let target, let fd):
                let (kept, problem) = sync(fd)
                state.withLock { s in
                    s.syncing = false
                    s.fd = kept
                    s.syncs += 1
                    if let problem { s.failure = problem } else { s.durable = max(s.durable, target) }
                }
                state.notifyAll()
            }
        }
    }

    static func error(_ reason: String) -> StoreError {
        StoreError(kind: .io, message: "the database's write-ahead log could not be synced to disk (\(reason)); "
            + "writes are refused until the server is restarted: check the disk first")
    }

    /// One fdatasync of the WAL on `fd`, opened (again) when it is not the file now at `path`; the fd to keep.
    private func sync(_ fd: Int32) -> (Int32, String?) {
        var fd = fd
        var now = stat()
        guard stat(path, &now) == 0 else {
            // No WAL: SQLite removes it only after copying all of it into the database file and syncing that.
            if errno == ENOENT { return (fd, nil) }
            return (fd, "stat \(path): \(String(cString: strerror(errno)))")
        }
        var held = stat()
        if fd < 0 || fstat(fd, &held) != 0 || held.st_ino != now.st_ino || held.st_dev != now.st_dev {
            if fd >= 0 { close(fd) }
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return (-1, "open \(path): \(String(cString: strerror(errno)))") }
            // A WAL just created: its directory entry must be on the disk too (SQLite's FULL commit syncs it once).
            let parent = (path as NSString).deletingLastPathComponent
            let directory = open(parent.isEmpty ? "." : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directory >= 0 {
                _ = fsync(directory)
                close(directory)
            }
        }
        guard syncFile(fd) == 0 else { return (fd, "fdatasync: \(String(cString: strerror(errno)))") }
        return (fd, nil)
    }
}
