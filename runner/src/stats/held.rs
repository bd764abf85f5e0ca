//! What a run's updates held back under their plugins' update policies
//! (docs/unattended.md, "Update policies"), in `held_back`: written by
//! `plugin-exec` from the `held_back` of each update's answer, read by
//! `status` and `history --json`.

use super::{Db, RunId};
use rusqlite::{params, Connection};
use serde::Serialize;
use update_all_protocol::HeldBack;

/// One package a plugin's update held back in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldRow {
    pub plugin: String,
    pub name: String,
    pub current_version: Option<String>,
    pub new_version: Option<String>,
    /// In the plugin's words: `a major update, not allowed by the policy`.
    pub reason: Option<String>,
}

/// Records what `plugin`'s update held back in `run`, in place of what an
/// earlier attempt of the same update recorded.
pub fn record(
    conn: &mut Connection,
    run: RunId,
    plugin: &str,
    held: &[HeldBack],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM held_back WHERE run_id = ?1 AND plugin = ?2",
        params![run, plugin],
    )?;
    {
        let mut insert = tx.prepare(
            "INSERT OR REPLACE INTO held_back
             (run_id, plugin, name, current_version, new_version, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for h in held {
            insert.execute(params![
                run,
                plugin,
                h.name,
                h.current_version,
                h.new_version,
                h.reason
            ])?;
        }
    }
    tx.commit()
}

impl Db {
    /// What `run`'s updates held back, by plugin, then package name.
    pub fn held_back(&self, run: RunId) -> rusqlite::Result<Vec<HeldRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT plugin, name, current_version, new_version, reason
             FROM held_back WHERE run_id = ?1 ORDER BY plugin, name",
        )?;
        let rows = stmt.query_map([run], |r| {
            Ok(HeldRow {
                plugin: r.get(0)?,
                name: r.get(1)?,
                current_version: r.get(2)?,
                new_version: r.get(3)?,
                reason: r.get(4)?,
            })
        })?;
        rows.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(name: &str, reason: &str) -> HeldBack {
        HeldBack {
            name: name.into(),
            current_version: Some("1.0.1".into()),
            new_version: Some("2.0.0".into()),
            reason: Some(reason.into()),
        }
    }

    #[test]
    fn a_later_attempt_replaces_what_the_plugin_held_and_others_stay() {
        let (_dir, mut db) = crate::stats::testing::db_with_runs(&[1]);
        record(&mut db.conn, 1, "npm", &[held("a", "first")]).unwrap();
        record(
            &mut db.conn,
            1,
            "npm",
            &[held("b", "major"), held("a", "hold")],
        )
        .unwrap();
        record(&mut db.conn, 1, "apt", &[held("linux-image-amd64", "hold")]).unwrap();
        let rows = db.held_back(1).unwrap();
        let names: Vec<_> = rows
            .iter()
            .map(|r| (r.plugin.as_str(), r.name.as_str(), r.reason.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("apt", "linux-image-amd64", Some("hold")),
                ("npm", "a", Some("hold")),
                ("npm", "b", Some("major"))
            ]
        );
        assert!(db.held_back(2).unwrap().is_empty());
    }
}
