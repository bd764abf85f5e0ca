//! Helpers for the packaging tests: the repository's paths, host commands,
//! the .deb built once per test process, and a Debian root made with
//! mmdebstrap, cached under `target/testbed-roots/`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository's top directory.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository directory")
}

/// The directory holding the workspace's built binaries (`target/debug`
/// for `cargo test`); `cargo build --workspace --bins` fills it.
pub fn binaries() -> PathBuf {
    testbed::target_binary("update-all-generator")
        .parent()
        .expect("target directory")
        .to_path_buf()
}

/// Whether the host programs `tools` are there. Missing ones are a setup
/// problem (`tests/packaging/REQUIREMENTS.apt`), handled as the test bed
/// handles its own: a panic, unless `UPDATE_ALL_SKIP_TESTBED=1` outside CI
/// asks to skip (then `false`).
pub fn have_tools(tools: &[&str]) -> bool {
    let missing = testbed::missing_tools(tools);
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "PACKAGING TOOLS MISSING: {} (install tests/packaging/REQUIREMENTS.apt)",
        missing.join(", ")
    );
    let skip = std::env::var("UPDATE_ALL_SKIP_TESTBED").as_deref() == Ok("1");
    assert!(skip, "{why}");
    testbed::skip(why);
    false
}

/// Runs `script` with `sh -c` on the host; returns stdout (panics, with
/// its output, if it fails).
pub use testbed::host_sh as sh;

/// `packaging/deb/build.sh` on the workspace's binaries, once per test
/// process; the path of the .deb.
pub fn built_deb() -> &'static Path {
    static DEB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, deb) = DEB.get_or_init(|| {
        let out = tempfile::tempdir().expect("temporary directory");
        let deb = sh(&format!(
            "'{}/packaging/deb/build.sh' --binaries '{}' --out '{}'",
            repo().display(),
            binaries().display(),
            out.path().display()
        ));
        let deb = PathBuf::from(deb.trim());
        assert!(deb.is_file(), "build.sh made no {}", deb.display());
        (out, deb)
    });
    deb
}

/// The Debian release of the test roots: the host's (the test bed is made
/// for its systemd 252).
pub const SUITE: &str = "bookworm";

/// What mmdebstrap installs besides the minimal base: systemd as PID 1 and
/// what the test bed needs in a root (system and session bus, logind's PAM
/// module for user managers).
const ROOT_PACKAGES: &str = "systemd,dbus,dbus-user-session,libpam-systemd";

/// A Debian root made by mmdebstrap (minbase plus [`ROOT_PACKAGES`]), made
/// once and kept in `target/testbed-roots/` (about 220 MB, 20-60 s to make
/// from the mirror). Copy it before booting or changing it.
///
/// apt's sandbox user is root in it (as the mmdebstrap call had it): the
/// `_apt` user cannot write to a `/dev/null` of mode 0644, as the test
/// bed's is on some hosts.
pub fn debian_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let cache = binaries().join("../testbed-roots");
        let root = cache.join(format!(
            "{SUITE}-minbase-{}",
            ROOT_PACKAGES.replace(',', "+")
        ));
        if root.join("usr/lib/systemd/systemd").is_file() {
            return root;
        }
        std::fs::create_dir_all(&cache).expect("cache directory");
        let partial = tempfile::tempdir_in(&cache).expect("temporary directory");
        let tree = partial.path().join("root");
        // No mirror given: mmdebstrap's default Debian mirror, plus the
        // updates and security suites of a stable release.
        sh(&format!(
            "mmdebstrap --quiet --variant=minbase --include={ROOT_PACKAGES} \
             --aptopt='APT::Sandbox::User \"root\"' {SUITE} '{}' </dev/null 2>&1",
            tree.display()
        ));
        // Made whole or not at all, also when tests race for it.
        if std::fs::rename(&tree, &root).is_err() {
            assert!(root.join("usr/lib/systemd/systemd").is_file());
        }
        root
    })
    .clone()
}

/// A throw-away copy of [`debian_root`] in `dir` (about 2 s).
pub fn fresh_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    sh(&format!(
        "cp -a --reflink=auto '{}' '{}'",
        debian_root().display(),
        root.display()
    ));
    root
}

/// Builds the `ua-fixture` test package (tests/fixtures/apt/control.in) in
/// `version` into `dir`; returns the .deb's path.
pub fn fixture_deb(dir: &Path, version: &str) -> PathBuf {
    let build = dir.join(format!("ua-fixture-{version}"));
    std::fs::create_dir_all(build.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(build.join("usr/share/ua-fixture")).unwrap();
    let control = std::fs::read_to_string(repo().join("tests/fixtures/apt/control.in"))
        .expect("control.in")
        .replace("@VERSION@", version);
    std::fs::write(build.join("DEBIAN/control"), control).unwrap();
    std::fs::write(build.join("usr/share/ua-fixture/version"), version).unwrap();
    let deb = dir.join(format!("ua-fixture_{version}_all.deb"));
    sh(&format!(
        "dpkg-deb --root-owner-group -Zgzip -b '{}' '{}' >/dev/null",
        build.display(),
        deb.display()
    ));
    deb
}
