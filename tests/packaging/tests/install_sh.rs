//! install.sh, the from-source install: into a staging directory under
//! /usr and /usr/local (what the generator makes of the installed tree,
//! and that --uninstall removes every file it installed but an edited
//! configuration), and for real as a user of a test bed instance, where the
//! user manager finds the user's own copy of the generator.

use packaging_tests::{binaries, have_tools, repo, sh};
use std::path::Path;
use testbed::Testbed;

fn install_sh(args: &str) -> String {
    sh(&format!(
        "'{}/install.sh' --binaries '{}' {args} 2>&1",
        repo().display(),
        binaries().display()
    ))
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut all: Vec<String> = sh(&format!("cd '{}' && find . -mindepth 1", dir.display()))
        .lines()
        .map(str::to_owned)
        .collect();
    all.sort();
    all
}

/// The units the installed generator writes for the staged tree (read
/// under UPDATE_ALL_ROOT), by name, with their text.
fn generate(dest: &Path) -> Vec<(String, String)> {
    let out = tempfile::tempdir().unwrap();
    let generator = ["usr/lib", "usr/local/lib"]
        .iter()
        .map(|lib| {
            dest.join(lib)
                .join("systemd/system-generators/update-all-generator")
        })
        .find(|g| g.is_file())
        .expect("an installed generator");
    let log = sh(&format!(
        "SYSTEMD_LOG_TARGET=console UPDATE_ALL_ROOT='{}' '{}' '{}' 2>&1",
        dest.display(),
        generator.display(),
        out.path().display()
    ));
    assert!(!log.contains("error"), "generator:\n{log}");
    let mut units: Vec<(String, String)> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    units.sort();
    units
}

#[test]
fn system_install_under_usr_local_and_uninstall() {
    if !have_tools(&["sha256sum", "gzip"]) {
        return;
    }
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path().display().to_string();
    install_sh(&format!("--system --destdir '{d}'"));
    let root = dest.path();

    // Not /usr: the manifests go to /etc with their executables moved, and
    // a drop-in tells the units where update-all is.
    let apt = std::fs::read_to_string(root.join("etc/update-all/plugins.d/apt.yaml")).unwrap();
    assert!(
        apt.contains("executable: /usr/local/lib/update-all/plugins/apt\n"),
        "{apt}"
    );
    let dropin =
        std::fs::read_to_string(root.join("etc/update-all/config.d/50-install-prefix.yaml"))
            .unwrap();
    assert!(
        dropin.contains("runner: /usr/local/bin/update-all\n"),
        "{dropin}"
    );
    let recorder = std::fs::read_to_string(
        root.join("usr/local/lib/systemd/system/update-all-recorder.service"),
    )
    .unwrap();
    assert!(
        recorder.contains("ExecStart=/usr/local/bin/update-all record\n"),
        "{recorder}"
    );

    // The generator makes every system plugin's units from it, pointing at
    // the installed files.
    let units = generate(root);
    let (_, apt_unit) = units
        .iter()
        .find(|(n, _)| n == "update-all-apt.service")
        .unwrap_or_else(|| panic!("no apt unit: {units:?}"));
    assert!(
        apt_unit.contains(
            "ExecStart=\"/usr/local/bin/update-all\" \"plugin-exec\" \"--\" \"/usr/local/lib/update-all/plugins/apt\" \"update\""
        ),
        "{apt_unit}"
    );
    assert!(units.iter().any(|(n, _)| n == "update-all-fwupd.service"));

    // Installing again replaces the earlier installation.
    let again = install_sh(&format!("--system --destdir '{d}'"));
    assert!(
        again.contains("replacing the earlier installation"),
        "{again}"
    );

    // An edited configuration survives --uninstall; nothing else does.
    let config = root.join("etc/update-all/config.yaml");
    std::fs::write(&config, "plugins:\n  disabled: [snap]\n").unwrap();
    let out = install_sh(&format!("--system --destdir '{d}' --uninstall"));
    assert!(out.contains("keeping /etc/update-all/config.yaml"), "{out}");
    assert_eq!(
        tree(root),
        ["./etc", "./etc/update-all", "./etc/update-all/config.yaml"],
        "left after --uninstall"
    );
}

#[test]
fn system_install_under_usr_is_the_packages_layout() {
    if !have_tools(&["sha256sum", "gzip"]) {
        return;
    }
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path().display().to_string();
    install_sh(&format!("--system --prefix /usr --destdir '{d}'"));
    let root = dest.path();
    // /usr: manifests unchanged in the vendor directory, no drop-in.
    for manifest in std::fs::read_dir(repo().join("plugins")).unwrap() {
        let dir = manifest.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if name == "lib" {
            continue;
        }
        let shipped = std::fs::read(dir.join(format!("{name}.yaml"))).unwrap();
        let installed =
            std::fs::read(root.join(format!("usr/lib/update-all/plugins.d/{name}.yaml"))).unwrap();
        assert_eq!(shipped, installed, "{name}.yaml");
        assert!(root
            .join(format!("usr/lib/update-all/plugins/{name}"))
            .is_file());
    }
    assert!(!root.join("etc/update-all/config.d").exists());
    // The administrator's manifest directory, empty (gone with --uninstall).
    assert!(root.join("etc/update-all/plugins.d").is_dir());
    assert_eq!(
        std::fs::read_link(root.join("usr/lib/systemd/user-generators/update-all-generator"))
            .unwrap(),
        Path::new("../system-generators/update-all-generator")
    );
    let units = generate(root);
    let apt = &units
        .iter()
        .find(|(n, _)| n == "update-all-apt.service")
        .unwrap()
        .1;
    assert!(
        apt.contains("ExecStart=\"/usr/bin/update-all\" \"plugin-exec\""),
        "{apt}"
    );

    install_sh(&format!(
        "--system --prefix /usr --destdir '{d}' --uninstall"
    ));
    assert_eq!(tree(root), Vec::<String>::new(), "left after --uninstall");
}

/// `install.sh --user` as a user of a test bed instance, with that user's
/// manager running: it re-executes, finds the generator through the
/// user.conf.d drop-in and makes the user plugins' units, which point into
/// ~/.local and follow the user's configuration; `systemctl --user start
/// update-all.target` runs them (skipped: not applicable in an empty home);
/// --uninstall takes them away again.
#[test]
fn user_install_in_a_user_manager() {
    if !Testbed::should_run() || !have_tools(&["sha256sum", "gzip"]) {
        return;
    }
    let tb = Testbed::require().expect("test bed");
    tb.add_user("ua-user", 4242);
    tb.user_manager(4242);
    let home = "/run/testbed-home/ua-user";
    let as_user = |script: &str| {
        tb.exec(&[
            "setpriv",
            "--reuid=4242",
            "--regid=4242",
            "--clear-groups",
            "env",
            &format!("HOME={home}"),
            "XDG_RUNTIME_DIR=/run/user/4242",
            "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/4242/bus",
            "sh",
            "-c",
            script,
        ])
    };
    // Only two plugins, so that the run stays in the home: this host has
    // npm and flatpak, whose plugins would apply.
    tb.write(
        format!("{home}/.config/update-all/config.d/90-test.yaml"),
        "plugins:\n  enabled: [pipx, cargo]\n",
        0o644,
    );
    tb.check(&["chown", "-R", "4242:4242", &format!("{home}/.config")]);
    let install = format!(
        "'{}/install.sh' --user --binaries '{}' 2>&1",
        repo().display(),
        binaries().display()
    );
    let out = as_user(&install);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "install.sh --user:\n{said}");

    let units = as_user("systemctl --user list-unit-files --no-legend 'update-all*'");
    let units = String::from_utf8_lossy(&units.stdout).into_owned();
    for unit in [
        "update-all-pipx.service",
        "update-all-cargo.service",
        "update-all.target",
    ] {
        assert!(
            units.contains(unit),
            "{unit} not in the user manager:\n{units}\n{said}"
        );
    }
    assert!(
        !units.contains("update-all-apt"),
        "a system plugin in user scope:\n{units}"
    );
    assert!(
        !units.contains("update-all-npm"),
        "a plugin the configuration leaves out:\n{units}"
    );
    let pipx = as_user("systemctl --user cat update-all-pipx.service");
    let pipx = String::from_utf8_lossy(&pipx.stdout).into_owned();
    assert!(
        pipx.contains(&format!("\"{home}/.local/bin/update-all\" \"--user\" \"plugin-exec\" \"--\" \"{home}/.local/lib/update-all/plugins/pipx\"")),
        "{pipx}"
    );

    let run = as_user("timeout 120 systemctl --user start update-all.target 2>&1");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    for unit in ["update-all-pipx.service", "update-all-cargo.service"] {
        let skipped = as_user(&format!("systemctl --user show -P ConditionResult {unit}"));
        assert_eq!(
            String::from_utf8_lossy(&skipped.stdout).trim(),
            "no",
            "{unit}"
        );
    }

    // The list --uninstall works from: every path install.sh made.
    let record = tb.check(&[
        "cat",
        &format!("{home}/.local/lib/update-all/installed-files"),
    ]);
    let out = as_user(&format!(
        "{} --uninstall",
        install.trim_end_matches(" 2>&1")
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let units = as_user("systemctl --user list-unit-files --no-legend 'update-all*'");
    let units = String::from_utf8_lossy(&units.stdout).into_owned();
    assert!(
        !units.contains("update-all-pipx"),
        "left after --uninstall:\n{units}"
    );
    // All gone, but directories that hold what the run itself wrote (the
    // statistics) or the test did (the configuration).
    let left: Vec<&str> = record
        .lines()
        .filter_map(|l| {
            let mut fields = l.split('\t');
            Some((fields.next()?, fields.nth(1)?))
        })
        .filter(|(kind, path)| {
            let there = tb.host_path(path);
            match *kind {
                "d" => std::fs::read_dir(&there).is_ok_and(|mut d| d.next().is_none()),
                _ => there.symlink_metadata().is_ok(),
            }
        })
        .map(|(_, path)| path)
        .collect();
    assert!(left.is_empty(), "left after --uninstall: {left:#?}");
    assert!(record.lines().count() > 50, "{record}");
}

/// install.sh and the packages' scripts pass shellcheck (PKGBUILD and the
/// pacman install file as bash, as makepkg and pacman read them).
#[test]
fn scripts_pass_shellcheck() {
    if !have_tools(&["shellcheck"]) {
        return;
    }
    sh(&format!(
        "cd '{}' && shellcheck install.sh packaging/deb/build.sh packaging/deb/postinst \
         packaging/deb/prerm packaging/deb/postrm packaging/arch/PKGBUILD \
         packaging/arch/update-all.install",
        repo().display()
    ));
}
