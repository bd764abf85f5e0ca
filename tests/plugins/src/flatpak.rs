//! A Flatpak repository and a throw-away installation, for the flatpak
//! and flatpak-user plugins' tests (stores.rs, rollback.rs).

use std::path::PathBuf;
use testbed::host_sh as sh;

/// A Flatpak repository built with `flatpak build-export`
/// (tests/fixtures/flatpak/make-repo.sh), with org.test.Hello 1.0
/// installed from it into a throw-away installation (`--system` with
/// FLATPAK_SYSTEM_DIR, or `--user` with FLATPAK_USER_DIR), then 2.0
/// published.
pub struct FlatpakFixture {
    _dir: tempfile::TempDir,
    pub base: PathBuf,
    pub installation: &'static str,
    /// FLATPAK_SYSTEM_DIR or FLATPAK_USER_DIR.
    pub var: &'static str,
    /// The installation's directory.
    pub target: PathBuf,
}

impl FlatpakFixture {
    /// The fixture in `dir`, a scratch directory the test bed can see.
    pub fn new(dir: tempfile::TempDir, installation: &'static str) -> Self {
        let base = dir.path().to_owned();
        let (var, target) = match installation {
            "--system" => ("FLATPAK_SYSTEM_DIR", base.join("system")),
            _ => ("FLATPAK_USER_DIR", base.join("user")),
        };
        let f = FlatpakFixture {
            _dir: dir,
            base,
            installation,
            var,
            target,
        };
        f.publish("1.0");
        f.flatpak(&format!(
            "remote-add --no-gpg-verify fixture 'file://{}/repo'",
            f.base.display()
        ));
        f.flatpak("install -y --noninteractive fixture org.test.Hello >/dev/null");
        assert_eq!(f.version(), "1.0\tfalse");
        f.publish("2.0");
        f
    }

    /// Builds org.test.Hello `version` into the repository.
    pub fn publish(&self, version: &str) {
        sh(&format!(
            "'{}' '{}' {version}",
            crate::fixtures_dir().join("flatpak/make-repo.sh").display(),
            self.base.display()
        ));
    }

    /// `flatpak INSTALLATION ARGS` against the throw-away installation.
    pub fn flatpak(&self, args: &str) -> String {
        sh(&format!(
            "{}='{}' flatpak {} {args}",
            self.var,
            self.target.display(),
            self.installation
        ))
    }

    /// The deployed version of org.test.Hello, and whether a newer commit
    /// was pulled but not deployed (flatpak list's "latest" column).
    pub fn version(&self) -> String {
        let line = self.flatpak("list --app --columns=application,version,active,latest");
        let f: Vec<&str> = line.trim().split('\t').collect();
        assert_eq!(f[0], "org.test.Hello", "{line}");
        let pending = f.len() > 3 && f[3] != "-" && f[3] != f[2];
        format!("{}\t{pending}", f[1])
    }

    /// The deployed commit of org.test.Hello, short (12 digits).
    pub fn commit(&self) -> String {
        self.flatpak("list --app --columns=active")
            .trim()
            .to_owned()
    }
}
