//! The pacman plugin against the real pacman, which has no reachable
//! mirror here: makepkg (as nobody: it refuses root) builds ua-fixture 1.0
//! and 2.0, repo-add makes a local repository, pacman installs 1.0 into a
//! throw-away root (its pacman.conf points every path there), then the
//! plugin's estimate sees 1.0 → 2.0 without syncing the real databases,
//! download fetches 2.0 into the root's cache, update installs it; while
//! the database is locked (db.lck), update answers LOCKED.

mod pkgmgr;

use pkgmgr::{
    error_of, have_tools, is_root, ok, only_package, packages, progress_lines, read, scratch, sh,
};
use std::path::Path;
use std::time::Instant;

/// Builds ua-fixture VERSION from the fixture PKGBUILD in `build` (owned by
/// nobody). makepkg writes to /dev/null, which is not writable by others
/// on every machine, so it runs in a private mount namespace with a fresh
/// null device bound over /dev/null.
fn makepkg(build: &Path, version: &str) {
    let b = build.display();
    sh(&format!(
        "unshare --mount --propagation private sh -c '\
           mknod -m 666 {b}/.null c 1 3 && mount --bind {b}/.null /dev/null && cd {b} && \
           exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
             env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME={b} UA_FIXTURE_VERSION={version} \
             makepkg --nodeps --noconfirm' >/dev/null 2>&1 || \
         {{ echo makepkg failed; exit 1; }}; rm -f {b}/.null"
    ));
}

fn query(conf: &Path) -> String {
    sh(&format!(
        "pacman --config '{}' -Q ua-fixture 2>/dev/null || true",
        conf.display()
    ))
    .trim()
    .to_owned()
}

#[test]
fn pacman_upgrades_a_throw_away_root() {
    let test = "pacman in a throw-away root";
    if !is_root(test)
        || !have_tools(
            test,
            &[
                "pacman", "makepkg", "repo-add", "fakeroot", "bsdtar", "unshare", "setpriv",
            ],
        )
    {
        return;
    }
    let dir = scratch("pacman");
    let base = dir.path();
    // makepkg runs as nobody, who may not reach the scratch directory (it
    // is in the target directory, under the clone, which may be below a
    // 0700 directory such as `mktemp -d` makes): it builds in a directory
    // of its own under the host's /tmp.
    let build_dir = tempfile::tempdir().expect("makepkg's build directory");
    let build = build_dir.path().join("build");
    let (repo, root) = (base.join("repo"), base.join("root"));
    let tmp = base.join("tmp");
    for d in [&build, &repo, &tmp] {
        std::fs::create_dir_all(d).unwrap();
    }
    for d in ["var/lib/pacman", "var/cache/pacman/pkg", "var/log"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(
        pkgmgr::fixture("pacman", "PKGBUILD"),
        build.join("PKGBUILD"),
    )
    .unwrap();
    sh(&format!("chown -R nobody '{}'", build_dir.path().display()));
    let started = Instant::now();
    for v in ["1.0", "2.0"] {
        makepkg(&build, v);
    }
    let build_time = started.elapsed();
    let package = |v: &str| build.join(format!("ua-fixture-{v}-1-any.pkg.tar.gz"));
    let publish = |v: &str| {
        sh(&format!(
            "cp '{}' '{r}/' && repo-add -q '{r}/ua-fixture.db.tar.gz' '{r}/ua-fixture-{v}-1-any.pkg.tar.gz'",
            package(v).display(),
            r = repo.display()
        ));
    };
    let conf = base.join("pacman.conf");
    std::fs::write(
        &conf,
        read(pkgmgr::fixture("pacman", "pacman.conf.in"))
            .replace("@ROOT@", &root.display().to_string())
            .replace("@REPO@", &repo.display().to_string()),
    )
    .unwrap();
    let (conf_s, tmp_s) = (conf.display().to_string(), tmp.display().to_string());
    let env = [
        ("UPDATE_ALL_PACMAN_CONFIG", conf_s.as_str()),
        ("TMPDIR", tmp_s.as_str()),
    ];
    let run = |command: &str| {
        ok(
            &format!("pacman {command}"),
            plugin_tests::run("pacman", &[command], &env),
        )
    };
    let applicable = || {
        plugin_tests::run("pacman", &["is-applicable"], &env)
            .status
            .success()
    };
    assert!(!applicable(), "an empty local database is no pacman system");

    publish("1.0");
    // pacman fetches a database only if it is newer, to the second: the
    // 1.0 one is an hour old, as if the repository had changed since.
    sh(&format!(
        "touch -d '1 hour ago' '{}/ua-fixture.db.tar.gz'",
        repo.display()
    ));
    sh(&format!(
        "pacman --config '{conf_s}' --noconfirm -Sy ua-fixture >/dev/null"
    ));
    assert_eq!(query(&conf), "ua-fixture 1.0-1");
    assert!(applicable());

    publish("2.0");
    let started = Instant::now();
    let doc = plugin_tests::json(&run("estimate-update"));
    let estimate_time = started.elapsed();
    let p = only_package(&doc);
    assert_eq!(p["name"], "ua-fixture", "{doc}");
    assert_eq!(p["current_version"], "1.0-1", "{doc}");
    assert_eq!(p["new_version"], "2.0-1", "{doc}");
    let size = std::fs::metadata(package("2.0")).unwrap().len();
    assert_eq!(p["download_size_bytes"].as_u64(), Some(size), "{doc}");
    assert_eq!(p["installed_size_bytes"].as_u64(), Some(4), "{doc}"); // "2.0\n"
                                                                      // The estimate synced a copy: the root's own sync database still knows
                                                                      // only 1.0, and the copy is gone.
    assert_eq!(
        sh(&format!("pacman --config '{conf_s}' -Qu || true")).trim(),
        ""
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temporary files left"
    );

    let out = run("update-mutexes");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pkgmgr:pacman\n");

    let out = run("download");
    assert!(root
        .join("var/cache/pacman/pkg/ua-fixture-2.0-1-any.pkg.tar.gz")
        .is_file());
    assert_eq!(
        query(&conf),
        "ua-fixture 1.0-1",
        "download must not install"
    );
    let progress = progress_lines(&out);
    assert!(
        progress
            .iter()
            .any(|l| l["message"] == "Downloaded 1 of 1 packages"),
        "no download progress: {progress:?}"
    );

    // Another pacman runs: its lock file is in the database directory.
    let lock = root.join("var/lib/pacman/db.lck");
    std::fs::write(&lock, "").unwrap();
    let (code, message) = error_of(
        "pacman update, locked",
        &plugin_tests::run("pacman", &["update"], &env),
    );
    assert_eq!(code, "LOCKED", "{message}");
    assert!(message.contains("unable to lock database"), "{message}");
    assert_eq!(query(&conf), "ua-fixture 1.0-1");
    std::fs::remove_file(&lock).unwrap();

    let out = run("update");
    assert_eq!(query(&conf), "ua-fixture 2.0-1");
    assert_eq!(read(root.join("usr/share/ua-fixture/version")), "2.0\n");
    assert!(progress_lines(&out)
        .iter()
        .any(|l| l["message"] == "upgrading ua-fixture"));
    assert!(packages(&plugin_tests::json(&run("estimate-update"))).is_empty());
    eprintln!(
        "pacman throw-away root: makepkg x2 {:.2}s, estimate {:.2}s, estimate+download+update+estimate {:.2}s",
        build_time.as_secs_f64(),
        estimate_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
