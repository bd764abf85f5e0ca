//! How a run cut short reads (see `stats::unfinished`), in `status` and
//! `resume`: "Last run interrupted (boot 3f2a…, started …): finished: a,
//! b; unfinished: c (started), d (not started)".

use super::format::local_time;
use crate::stats::unfinished::{Interrupted, RunUnit};

/// The one line that tells an interrupted run.
pub fn line(i: &Interrupted) -> String {
    let boot: String = i.boot_id.chars().take(8).collect();
    let finished = names(i.finished.iter().map(|u| (u, "")));
    let unfinished = names(i.unfinished.iter().map(|u| {
        let how = if u.started {
            " (started)"
        } else {
            " (not started)"
        };
        (&u.unit, how)
    }));
    format!(
        "Last run interrupted (run {}, boot {boot}…, started {}): finished: {finished}; \
         unfinished: {unfinished}",
        i.run.id,
        local_time(i.run.started_us)
    )
}

/// Each unit once, as its plugin with " download" for a download unit,
/// and what follows it; "none" for none.
fn names<'a>(units: impl Iterator<Item = (&'a RunUnit, &'a str)>) -> String {
    let mut shown: Vec<String> = Vec::new();
    for (u, how) in units {
        let name = match u.phase.as_str() {
            "update" => format!("{}{how}", u.plugin),
            phase => format!("{} {phase}{how}", u.plugin),
        };
        if !shown.contains(&name) {
            shown.push(name);
        }
    }
    if shown.is_empty() {
        "none".to_owned()
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::unfinished::Unfinished;
    use crate::stats::{query, Db};

    #[test]
    fn says_what_had_finished_and_what_had_not() {
        let unit = |plugin: &str, phase: &str| RunUnit {
            unit: format!("update-all-{plugin}.service"),
            plugin: plugin.into(),
            phase: phase.into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_for_writing(&dir.path().join("stats.db")).unwrap();
        let run = db.open_run("3f2a9c0e-1111", 0, &[]).unwrap();
        let i = Interrupted {
            run: query::run(&db, run).unwrap().unwrap(),
            boot_id: "3f2a9c0e-1111".into(),
            finished: vec![
                unit("a", "download"),
                unit("a", "update"),
                unit("b", "update"),
            ],
            unfinished: vec![
                Unfinished {
                    unit: unit("c", "update"),
                    started: true,
                },
                Unfinished {
                    unit: unit("d", "update"),
                    started: false,
                },
            ],
        };
        let text = line(&i);
        assert!(text.starts_with("Last run interrupted (run 1, boot 3f2a9c0e…, started "));
        assert!(
            text.ends_with("finished: a download, a, b; unfinished: c (started), d (not started)"),
            "{text}"
        );
    }
}
