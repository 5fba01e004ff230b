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
/// that bounds the WAL.
final class Checkpointer: Sendable {
    /// WAL frames after a commit that ask for a checkpoint (SQLite's own default threshold).
    static let pages: Int32 = 1000
    /// WAL frames after a commit at which the writer checkpoints itself (32 MiB of 4 KiB pages).
    static let writerPages: Int32 = 8000

    /// Whether a checkpoint is asked for, whether to stop, whether the thread runs, and how opening its
    /// connection went (nil until it is known).
    private let state = Lock<(asked: Bool, stopping: Bool, running: Bool, opened: Result<Void, StoreError>?)>((false, false, true, nil))

    /// Starts the thread, which opens its own connection to `path` (and closes it when stopped); throws when it
    /// cannot, so a store never runs without its checkpoints.
    init(path: String, busyTimeoutMs: Int32) throws {
        let thread = Thread { [self] in run(path: path, busyTimeoutMs: busyTimeoutMs) }
        thread.name = "neo-checkpoint"
        thread.start()
        try state.withLock(waitingUntil: { $0.opened != nil }) { try $0.opened?.get() }
    }

    /// Replaces `writer`'s automatic checkpoint with a request to this thread. The writer must be closed before
    /// this object goes away: the hook holds it unretained.
    func take(over writer: Database) {
        writer.setWALHook(Unmanaged.passUnretained(self).toOpaque()) { context, db, name, pages in
            if pages >= Checkpointer.writerPages {
                sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            } else if pages >= Checkpointer.pages, let context {
                Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue().ask()
            }
            return SQLITE_OK
        }
    }

    private func ask() {
        let wasAsked = state.withLock { value -> Bool in
            defer { value.asked = true }
            return value.asked
        }
        if !wasAsked { state.notifyOne() }
    }

    private func run(path: String, busyTimeoutMs: Int32) {
        defer {
            state.withLock { $0.running = false }
            state.notifyAll()
        }
        let db: Database
        do {
            db = try Database(path: path, flags: SQLITE_OPEN_READWRITE, isWriter: false, busyTimeoutMs: busyTimeoutMs)
            try db.execute("PRAGMA synchronous=FULL")
        } catch {
            state.withLock { $0.opened = .failure(error as? StoreError ?? StoreError(kind: .io, message: "checkpoint connection: \(error)")) }
            return
        }
        defer { db.close() }
        state.withLock { $0.opened = .success(()) }
        state.notifyAll()
        while true {
            let stop = state.withLock(waitingUntil: { $0.asked || $0.stopping }) { value -> Bool in
                value.asked = false
                return value.stopping
            }
            if stop { return }
            // PASSIVE: copies what no reader still needs; a checkpoint already under way elsewhere (SQLITE_BUSY) just
            // leaves it to the next ask.
            _ = try? db.queryOne("PRAGMA wal_checkpoint(PASSIVE)")
        }
    }

    /// Stops the thread (after a checkpoint under way) and closes its connection.
    func stop() {
        state.withLock { $0.stopping = true }
        state.notifyAll()
        state.withLock(waitingUntil: { !$0.running }) { _ in }
    }
}
