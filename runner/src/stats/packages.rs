//! What a run's updates were about to change, package by package: the
//! estimate `plugin-exec` recorded before the update of a plugin that can
//! roll back (`supports_rollback: true`, or that has a `policy:`), kept in
//! `run_packages`. A plugin's `rollback` command gets these back as the
//! versions to return to (`crate::rollback::plugins`).

use super::{Db, RunId};
use rusqlite::{params, Connection};
use serde::Serialize;
use std::collections::BTreeMap;

/// One package of a plugin's estimate, as recorded for its run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunPackage {
    pub name: String,
    /// The version installed before the update: the one to restore.
    pub current_version: Option<String>,
    /// The version the update was to install.
    pub new_version: Option<String>,
    /// patch, minor, major, security or unknown, when the plugin said.
    pub update_type: Option<String>,
}

/// Records `packages` as `plugin`'s estimate in `run`, in place of any
/// recorded before for them (one transaction: readers see the old list or
/// the new one).
pub fn record(
    conn: &mut Connection,
    run: RunId,
    plugin: &str,
    packages: &[RunPackage],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM run_packages WHERE run_id = ?1 AND plugin = ?2",
        params![run, plugin],
    )?;
    {
        let mut insert = tx.prepare(
            "INSERT OR REPLACE INTO run_packages
             (run_id, plugin, name, current_version, new_version, update_type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for p in packages {
            insert.execute(params![
                run,
                plugin,
                p.name,
                p.current_version,
                p.new_version,
                p.update_type
            ])?;
        }
    }
    tx.commit()
}

/// Whether `plugin`'s estimate is recorded in `run` (with a package at
/// least: an empty estimate leaves no row).
pub fn recorded(conn: &Connection, run: RunId, plugin: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM run_packages WHERE run_id = ?1 AND plugin = ?2)",
        params![run, plugin],
        |r| r.get(0),
    )
}

impl Db {
    /// The packages recorded in `run`, by plugin, each plugin's by name.
    pub fn run_packages(&self, run: RunId) -> rusqlite::Result<BTreeMap<String, Vec<RunPackage>>> {
        let mut stmt = self.conn.prepare(
            "SELECT plugin, name, current_version, new_version, update_type
             FROM run_packages WHERE run_id = ?1 ORDER BY plugin, name",
        )?;
        let rows = stmt.query_map([run], |r| {
            Ok((
                r.get::<_, String>(0)?,
                RunPackage {
                    name: r.get(1)?,
                    current_version: r.get(2)?,
                    new_version: r.get(3)?,
                    update_type: r.get(4)?,
                },
            ))
        })?;
        let mut by_plugin: BTreeMap<String, Vec<RunPackage>> = BTreeMap::new();
        for row in rows {
            let (plugin, package) = row?;
            by_plugin.entry(plugin).or_default().push(package);
        }
        Ok(by_plugin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, from: &str, to: &str) -> RunPackage {
        RunPackage {
            name: name.into(),
            current_version: Some(from.into()),
            new_version: Some(to.into()),
            update_type: None,
        }
    }

    #[test]
    fn a_plugins_estimate_replaces_the_one_before_and_is_read_back_by_plugin() {
        let (_dir, mut db) = crate::stats::testing::db_with_runs(&[1]);
        assert!(!recorded(&db.conn, 1, "npm").unwrap());
        record(
            &mut db.conn,
            1,
            "npm",
            &[package("left-pad", "1.0.0", "1.3.0")],
        )
        .unwrap();
        let mut two = vec![
            package("typescript", "5.0.0", "5.1.0"),
            package("eslint", "8.0.0", "9.0.0"),
        ];
        two[1].update_type = Some("major".into());
        record(&mut db.conn, 1, "npm", &two).unwrap();
        record(&mut db.conn, 1, "pipx", &[package("black", "23.1", "24.1")]).unwrap();
        assert!(recorded(&db.conn, 1, "npm").unwrap());
        let all = db.run_packages(1).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["npm", "pipx"]);
        let names: Vec<_> = all["npm"].iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["eslint", "typescript"]);
        assert_eq!(all["npm"][0].update_type.as_deref(), Some("major"));
        assert!(db.run_packages(2).unwrap().is_empty());
    }
}
