//! Fixtures for the unit tests of what reads and writes the statistics:
//! a database of the current schema with runs in it, so that rows that
//! refer to a run can go in.

use super::Db;

/// A fresh database in a temporary directory (kept as long as the
/// returned guard) holding runs `ids` of boot `b`.
pub fn db_with_runs(ids: &[i64]) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Db::open_for_writing(&dir.path().join("stats.db")).expect("database");
    for id in ids {
        db.conn
            .execute(
                "INSERT INTO runs (id, boot_id, started_us) VALUES (?1, 'b', 1)",
                [id],
            )
            .expect("a run");
    }
    (dir, db)
}
