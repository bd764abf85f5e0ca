//! The statistics database for the query commands (`status`, `history`,
//! `stats`, `schedule status`): opened or queried through `stats`, and on
//! failure which file and why said on standard error, with the exit status.

use crate::output::FAILURE;
use crate::stats::{self, Db, DbError, DbErrorKind};
use std::path::Path;
use std::process::ExitCode;
use update_all_core::Scope;

/// [`stats::open_for_reading`] for a command: on failure, says which file
/// and why on standard error and gives the exit status.
pub fn open(scope: Scope) -> Result<Option<Db>, ExitCode> {
    stats::open_for_reading(scope).map_err(|e| {
        tracing::error!("{e}");
        ExitCode::from(FAILURE)
    })
}

/// `query` on the scope's database, or `T::default()` when nothing was
/// recorded yet (there is no database). On failure, says which file and
/// why on standard error and gives the exit status.
pub fn query<T: Default>(
    scope: Scope,
    query: impl FnOnce(&Db) -> rusqlite::Result<T>,
) -> Result<T, ExitCode> {
    match open(scope)? {
        Some(db) => query(&db).map_err(|e| report(&db.path, e)),
        None => Ok(T::default()),
    }
}

/// A query on an open database failed: says so, gives the exit status.
pub fn report(path: &Path, e: rusqlite::Error) -> ExitCode {
    let error = DbError {
        path: path.to_owned(),
        kind: DbErrorKind::Sqlite(e),
    };
    tracing::error!("{error}");
    ExitCode::from(FAILURE)
}
