//! Code the generator refuses is never run, on a real systemd 252 (the
//! namespace test bed): root-owned manifests name executables that an
//! ordinary user could change (owned by uid 4001, under the sticky /tmp,
//! in a world-writable directory, behind a symlink uid 4001 owns). Each
//! writes a marker when run. No subcommand may create it, and each says
//! why the plugin was refused. A plugin named `recorder` is refused, and
//! the recorder still records; a `paths.runner` a user owns is refused
//! with its file and line, and the units run the runner before it.

mod common;

use common::{runner, show, text, wait_for};
use std::process::Output;
use std::time::Duration;
use testbed::{Testbed, MANIFESTS, PLUGINS, RUNNER};

/// Where a plugin that should never run leaves its mark.
const MARKER: &str = "/run/untrusted-ran";

/// A plugin script that applies, says it has nothing to update, and
/// leaves `name` in `marker` whenever it runs at all.
fn script(name: &str, marker: &str) -> String {
    format!(
        "#!/bin/sh\necho \"{name} $*\" >> {marker}\n\
         [ \"$1\" = is-applicable ] && exit 0\n\
         [ \"$1\" = estimate-update ] && \
         echo '{{\"status\":\"success\",\"data\":{{\"packages_to_update\":[]}},\"error\":null,\"progress\":null}}'\n\
         exit 0\n"
    )
}

/// A system manifest for `name` with `executable`, written as root.
fn manifest(tb: &Testbed, name: &str, executable: &str) {
    tb.write(
        format!("{MANIFESTS}/{name}.yaml"),
        format!("plugin:\n  name: {name}\n  executable: {executable}\n  scope: system\n"),
        0o644,
    );
}

fn sh(tb: &Testbed, script: &str) -> String {
    let out = tb.sh(script);
    assert!(out.status.success(), "{script}: {}", show(&out));
    text(&out.stdout)
}

fn exists(tb: &Testbed, path: &str) -> bool {
    tb.exec(&["test", "-e", path]).status.success()
}

/// The untrusted plugins, by name, and what the refusal must say.
fn untrusted(tb: &Testbed) -> Vec<(&'static str, String)> {
    // Owned by an ordinary user.
    tb.add_plugin("owned", "scope: system", &script("owned", MARKER));
    sh(tb, &format!("chown 4001 {PLUGINS}/owned"));
    // Root's, in a directory of its own, under the sticky /tmp.
    let dir = sh(
        tb,
        "d=$(mktemp -d /tmp/ua-untrusted.XXXXXX); chmod 755 $d; echo $d",
    );
    let dir = dir.trim();
    tb.write(format!("{dir}/sticky"), script("sticky", MARKER), 0o755);
    manifest(tb, "sticky", &format!("{dir}/sticky"));
    assert_eq!(
        sh(tb, "stat -c %a /tmp").trim(),
        "1777",
        "the test bed's /tmp"
    );
    // Root's, in a directory everyone may write.
    tb.write("/run/ww/ww", script("ww", MARKER), 0o755);
    sh(tb, "chmod 777 /run/ww");
    manifest(tb, "ww", "/run/ww/ww");
    // A symlink that uid 4001 owns, to a file root owns.
    tb.write(
        format!("{PLUGINS}/linked-target"),
        script("linked", MARKER),
        0o755,
    );
    sh(
        tb,
        &format!("ln -s linked-target {PLUGINS}/linked && chown -h 4001 {PLUGINS}/linked"),
    );
    manifest(tb, "linked", &format!("{PLUGINS}/linked"));
    vec![
        (
            "owned",
            format!("{PLUGINS}/owned is owned by uid 4001, not root"),
        ),
        (
            "sticky",
            "/tmp is a sticky directory (mode 1777)".to_owned(),
        ),
        (
            "ww",
            "/run/ww is writable by its group or by everyone (mode 777)".to_owned(),
        ),
        (
            "linked",
            format!("the symlink {PLUGINS}/linked is owned by uid 4001"),
        ),
    ]
}

/// Standard output and error together.
fn all(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[test]
fn no_subcommand_runs_a_refused_plugin_and_each_says_why() {
    let mut refused = Vec::new();
    let Some(tb) = common::boot_with(|tb| {
        refused = untrusted(tb);
        tb.add_plugin("fine", "scope: system", &script("fine", "/run/fine-ran"));
    }) else {
        return;
    };
    for (name, _) in &refused {
        let unit = format!("update-all-{name}.service");
        let load = tb.check(&["systemctl", "show", "-P", "LoadState", &unit]);
        assert_eq!(load.trim(), "not-found", "{unit} was generated");
    }

    let every: Vec<&str> = refused.iter().map(|(n, _)| *n).collect();
    // (arguments, the exit status if it is certain, the plugins it must
    // say were refused and why)
    let mut commands: Vec<(Vec<&str>, Option<i32>, Vec<&str>)> = vec![
        (vec!["plugins", "list"], Some(1), every.clone()),
        (vec!["plugins", "validate"], Some(1), every.clone()),
        (vec!["plan"], Some(1), every.clone()),
        (vec!["check"], None, every.clone()),
        (vec!["run", "--dry-run"], None, every.clone()),
        (vec!["run", "--check"], Some(0), every.clone()),
        // The refused do not get in the way of the others.
        (vec!["run", "--only", "fine"], Some(0), vec![]),
        (vec!["run", "--dry-run", "--only", "fine"], None, vec![]),
    ];
    for name in &every {
        commands.extend([
            (vec!["plugins", "info", name], Some(1), vec![*name]),
            (vec!["plugins", "validate", name], Some(1), vec![*name]),
            (
                vec!["run", "--dry-run", "--only", name],
                Some(2),
                vec![*name],
            ),
            (vec!["run", "--only", name], Some(2), vec![*name]),
        ]);
    }
    for (args, status, named) in &commands {
        let out = runner(&tb, args);
        let said = all(&out);
        if let Some(status) = status {
            assert_eq!(out.status.code(), Some(*status), "{args:?}: {}", show(&out));
        }
        for (name, why) in refused.iter().filter(|(n, _)| named.contains(n)) {
            assert!(
                said.contains(why.as_str()) && said.contains(name),
                "update-all {args:?} does not say why {name} was refused ({why}):\n{}",
                show(&out)
            );
        }
        assert!(
            !exists(&tb, MARKER),
            "update-all {args:?} ran a refused plugin: {}\n{}",
            tb.check(&["cat", MARKER]),
            show(&out)
        );
    }
    // The trusted plugin did run: the marker would have shown up.
    assert!(exists(&tb, "/run/fine-ran"));
}

#[test]
fn a_plugin_named_recorder_is_refused_and_the_recorder_still_records() {
    let Some(tb) = common::boot_with(|tb| {
        tb.add_plugin("recorder", "scope: system", &script("recorder", MARKER));
        tb.add_plugin("fine", "scope: system", &script("fine", "/run/fine-ran"));
    }) else {
        return;
    };
    let recorder = "update-all-recorder.service";
    let fragment = tb.check(&["systemctl", "show", "-P", "FragmentPath", recorder]);
    assert_eq!(fragment.trim(), format!("/run/systemd/system/{recorder}"));

    let out = runner(&tb, &["plan"]);
    assert!(
        text(&out.stdout).contains(
            "the plugin name `recorder` is reserved: its unit would replace update-all's own \
             update-all-recorder.service"
        ),
        "{}",
        show(&out)
    );
    let out = runner(&tb, &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    wait_for(
        "the recorder to record the run",
        Duration::from_secs(30),
        || {
            let out = runner(&tb, &["history", "--json", "--last", "10"]);
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            doc["records"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["plugin"] == "fine"))
        },
    );
    assert!(exists(&tb, "/run/fine-ran"));
    assert!(!exists(&tb, MARKER), "{}", tb.check(&["cat", MARKER]));
}

#[test]
fn a_runner_a_user_owns_is_refused_with_its_file_and_line() {
    let marker = "/run/evil-runner-ran";
    let evil = "/run/update-all/bin/evil-runner";
    let conf = "/run/update-all/config.d/50-runner.yaml";
    let Some(tb) = common::boot_with(|tb| {
        tb.write(
            evil,
            format!("#!/bin/sh\necho \"$*\" >> {marker}\nexec {RUNNER} \"$@\"\n"),
            0o755,
        );
        sh(tb, &format!("chown 4001 {evil}"));
        tb.write(conf, format!("# ours\npaths:\n  runner: {evil}\n"), 0o644);
        tb.add_plugin("fine", "scope: system", &script("fine", "/run/fine-ran"));
    }) else {
        return;
    };
    let out = runner(&tb, &["plan"]);
    let said = all(&out);
    assert!(
        said.contains(&format!(
            "{conf}:3:11: error: paths.runner: {evil} is not used, since the units would run it: \
             {evil} is owned by uid 4001, not root"
        )) && said.contains(&format!("They run {RUNNER} instead.")),
        "{}",
        show(&out)
    );
    let exec = tb.check(&[
        "systemctl",
        "show",
        "-P",
        "ExecStart",
        "update-all-fine.service",
    ]);
    assert!(exec.contains(RUNNER) && !exec.contains("evil"), "{exec}");
    let out = runner(&tb, &["run", "--only", "fine"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(exists(&tb, "/run/fine-ran"));
    assert!(!exists(&tb, marker), "{}", tb.check(&["cat", marker]));
}
