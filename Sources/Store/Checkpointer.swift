import Basics
import CShim
import Foundation

/// Checkpoints the WAL from a thread and connection of its own, in place of SQLite's automatic checkpoint,
/// which runs inside the COMMIT of whichever write crosses the threshold: there it held the single writer
/// (and every write queued behind it) for the copy of up to a thousand pages into the database file and that
/// file's fsync. The writer's WAL hook only asks; this thread runs a PASSIVE checkpoint (it waits for no reader
/// or writer, and writers go on appending meanwhile) while commits do not wait. A checkpoint beside writers may never
/// catch up with them, and SQLite restarts the WAL from its start only after one has (the WAL then grows instead), so
/// past `writerPages` the writer checkpoints itself, between its transactions, as SQLite's automatic checkpoint does:
/// that bounds the WAL. So does a thread that could not open its connection: the writer then checkpoints as before.
final class Checkpointer: Sendable {
    /// WAL frames not yet copied by a checkpoint that ask for one (SQLite's own default threshold, which counts all
    /// frames: once the WAL no longer starts again from its beginning, that asked after every commit).
    static let pages: Int32 = 1000
    /// WAL frames after a commit at which the writer checkpoints itself (16 MiB of 4 KiB pages).
    static let writerPages: Int32 = 4000

    private let path: String
    private let busyTimeoutMs: Int32
    /// Whether a checkpoint is asked for, whether to stop, whether the thread runs (it starts at the first ask),
    /// whether it failed to open its connection, and the WAL frames the last checkpoint had copied.
    private let state = Lock<(asked: Bool, stopping: Bool, running: Bool, failed: Bool, backfilled: Int32)>((false, false, false, false, 0))

    init(path: String, busyTimeoutMs: Int32) {
        self.path = path
        self.busyTimeoutMs = busyTimeoutMs
    }

    /// Replaces `writer`'s automatic checkpoint with a request to this thread. The writer must be closed before
    /// this object goes away: the hook holds it unretained.
    func take(over writer: Database) {
        writer.setWALHook(Unmanaged.passUnretained(self).toOpaque()) { context, db, name, pages in
            guard pages >= Checkpointer.pages, let context else { return SQLITE_OK }
            if pages >= Checkpointer.writerPages || !Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue().ask(pages) {
                sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            }
            return SQLITE_OK
        }
    }

    /// With `pages` frames in the WAL, asks the thread (started on the first ask) for a checkpoint when enough of them
    /// are not yet copied; false when it cannot take it (no connection, or stopping), so the writer checkpoints itself.
    private func ask(_ pages: Int32) -> Bool {
        let (taken, start) = state.withLock { value -> (Bool, Bool) in
            guard !value.failed && !value.stopping else { return (false, false) }
            if pages < value.backfilled { value.backfilled = 0 }  // the WAL started again from its beginning
            guard pages - value.backfilled >= Checkpointer.pages, !value.asked else { return (true, false) }
            value.asked = true
            defer { value.running = true }
            return (true, !value.running)
        }
        if start {
            let thread = Thread { [self] in run() }
            thread.name = "neo-checkpoint"
            thread.start()
        } else if taken {
            state.notifyOne()
        }
        return taken
    }

    private func run() {
        defer {
            state.withLock { $0.running = false }
            state.notifyAll()
        }
        let db: Database
        do {
            db = try Database(path: path, flags: SQLITE_OPEN_READWRITE, isWriter: false, busyTimeoutMs: busyTimeoutMs)
            try db.execute("PRAGMA synchronous=FULL")
        } catch {
            state.withLock { $0.failed = true }
            return
        }
        defer { db.close() }
        while true {
            let stop = state.withLock(waitingUntil: { $0.asked || $0.stopping }) { value -> Bool in
                value.asked = false
                return value.stopping
            }
            if stop { return }
            // PASSIVE: copies what no reader still needs; a checkpoint already under way elsewhere (SQLITE_BUSY) just
            // leaves it to the next ask.
            // The row: busy, frames in the WAL, frames copied (-1, -1 when not in WAL mode).
            if let row = try? db.queryOne("PRAGMA wal_checkpoint(PASSIVE)"), case .int(let copied) = row[2], copied >= 0 {
                state.withLock { $0.backfilled = Int32(clamping: copied) }
            }
        }
    }

    /// Stops the thread (after a checkpoint under way) and closes its connection.
    func stop() {
        state.withLock { $0.stopping = true }
        state.notifyAll()
        state.withLock(waitingUntil: { !$0.running }) { _ in }
    }
}
