//! A broken configuration file on a real systemd 252 (the namespace test
//! bed): `run`, `check`, `status`, `schedule status` and the recorder each
//! say so, with file, line and column and what applies instead, and the run
//! goes on with the documented fallback (the broken file is ignored as a
//! whole, its `plugins.disabled` too).

mod common;

use common::{runner, show, text};
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};
use testbed::Testbed;

const BROKEN: &str = "/run/update-all/config.d/50-typo.yaml";
const LOG: &str = "/run/ok.log";

/// The warning lines of a command's standard error.
fn warnings(out: &Output) -> Vec<String> {
    text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("update-all: warning: "))
        .map(str::to_owned)
        .collect()
}

/// The configuration's warnings: the problem, then what applies instead.
fn config_warnings(out: &Output) -> Vec<String> {
    let lines: Vec<String> = warnings(out)
        .into_iter()
        .filter(|l| l.contains(BROKEN) || l.contains("in effect instead"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", show(out));
    assert!(
        lines[0].starts_with(&format!(
            "update-all: warning: {BROKEN}:4:3: broken configuration: conditions: \
             unknown field `skip_on_batery`"
        )),
        "{}",
        show(out)
    );
    assert!(
        lines[0].contains("did you mean `skip_on_battery`?"),
        "{}",
        show(out)
    );
    assert!(lines[0].ends_with("This configuration file is ignored until it is fixed."));
    assert!(
        lines[1].starts_with(
            "update-all: warning: in effect instead: \
             /run/update-all/config.d/00-testbed.yaml and the defaults: \
             plugins.enabled: all, plugins.disabled: [], conditions: skip_on_battery false"
        ),
        "{}",
        show(out)
    );
    lines
}

fn ran(tb: &Testbed) -> bool {
    tb.host_path(LOG).exists()
}

#[test]
fn a_broken_configuration_is_reported_by_every_command_and_its_fallback_applies() {
    let Some(tb) = common::boot() else {
        return;
    };
    tb.add_plugin(
        "ok",
        "scope: system",
        &format!(
            "#!/bin/sh\n\
             case \"$1\" in\n\
             is-applicable) exit 0 ;;\n\
             update) echo ran >>{LOG} ;;\n\
             *) echo \"unknown command $1\" >&2; exit 2 ;;\n\
             esac\n"
        ),
    );
    // Line 4, column 3: a typo. The whole file is ignored, so `ok` is no
    // longer disabled.
    let broken = "plugins:\n  disabled: [ok]\nconditions:\n  skip_on_batery: false\n";
    tb.write(BROKEN, broken, 0o644);
    tb.daemon_reload();

    let run = runner(&tb, &["--system", "run"]);
    assert_eq!(run.status.code(), Some(0), "{}", show(&run));
    let said = config_warnings(&run);
    eprintln!("{}", said.join("\n"));
    assert!(ran(&tb), "the fallback enables ok: {}", show(&run));

    for args in [
        &["--system", "check"][..],
        &["--system", "status"],
        &["--system", "schedule", "status"],
    ] {
        let out = runner(&tb, args);
        assert_eq!(config_warnings(&out), said, "update-all {args:?}");
    }

    // The recorder, a service: the same lines in the journal, as warnings.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let journal = text(
            &tb.exec(&[
                "journalctl",
                "-u",
                "update-all-recorder.service",
                "-p",
                "warning",
                "-o",
                "cat",
                "--no-pager",
            ])
            .stdout,
        );
        let seen = said.iter().all(|line| {
            let message = line.trim_start_matches("update-all: warning: ");
            journal.lines().any(|l| l == message)
        });
        if seen {
            break;
        }
        assert!(Instant::now() < deadline, "recorder journal:\n{journal}");
        thread::sleep(Duration::from_millis(200));
    }

    // Fixed, the file applies again (ok is disabled) and nothing is said.
    tb.exec(&["rm", LOG]);
    tb.write(BROKEN, broken.replace("batery", "battery"), 0o644);
    tb.daemon_reload();
    let run = runner(&tb, &["--system", "run"]);
    assert_eq!(run.status.code(), Some(0), "{}", show(&run));
    assert!(!ran(&tb), "ok is disabled: {}", show(&run));
    assert!(
        !warnings(&run).iter().any(|l| l.contains("config")),
        "{}",
        show(&run)
    );
}
