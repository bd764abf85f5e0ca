//! A private apt/dpkg root and a local repository, for the apt plugin's
//! tests (apt.rs, rollback.rs): the host's packages are never touched.

use crate::{ok, read};
use std::path::PathBuf;
use testbed::host_sh as sh;

/// tests/fixtures/apt/<file>.
fn fixture(file: &str) -> PathBuf {
    crate::fixtures_dir().join("apt").join(file)
}

/// A private apt/dpkg root with ua-fixture 1.0 installed from a local
/// repository; [`PrivateRoot::publish`] adds 2.0 or 3.0 to the repository.
pub struct PrivateRoot {
    _dir: tempfile::TempDir,
    /// The root: its dpkg database, apt lists, cache and sources.
    pub root: PathBuf,
    /// The flat repository, indexed by dpkg-scanpackages.
    pub repo: PathBuf,
    /// The apt.conf that confines apt to the root (APT_CONFIG).
    pub conf: PathBuf,
    /// ua-fixture 1.0, 2.0 and 3.0, built.
    pub debs: PathBuf,
}

impl PrivateRoot {
    /// The root in `dir`, a scratch directory the test bed can see.
    pub fn new(dir: tempfile::TempDir) -> PrivateRoot {
        PrivateRoot::with_postinst(dir, None)
    }

    /// Like [`PrivateRoot::new`], with `postinst` as the maintainer script
    /// of ua-fixture 2.0, which dpkg runs outside the private root
    /// (`--force-script-chrootless`): on the system itself.
    pub fn with_postinst(dir: tempfile::TempDir, postinst: Option<&str>) -> PrivateRoot {
        let base = dir.path().to_owned();
        let (root, repo, debs) = (base.join("root"), base.join("repo"), base.join("debs"));
        for v in ["1.0", "2.0", "3.0"] {
            let pkg = base.join(format!("build-{v}"));
            std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
            std::fs::create_dir_all(pkg.join("usr/share/ua-fixture")).unwrap();
            let control = read(fixture("control.in")).replace("@VERSION@", v);
            std::fs::write(pkg.join("DEBIAN/control"), control).unwrap();
            std::fs::write(pkg.join("usr/share/ua-fixture/version"), format!("{v}\n")).unwrap();
            if let (Some(script), "2.0") = (postinst, v) {
                std::fs::write(pkg.join("DEBIAN/postinst"), script).unwrap();
                sh(&format!("chmod 755 '{}/DEBIAN/postinst'", pkg.display()));
            }
            std::fs::create_dir_all(&debs).unwrap();
            sh(&format!(
                "dpkg-deb --root-owner-group -Zgzip -b '{}' '{}' >/dev/null",
                pkg.display(),
                debs.display()
            ));
        }
        for d in [
            "var/lib/dpkg/info",
            "var/lib/dpkg/updates",
            "var/lib/dpkg/triggers",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "etc/apt/apt.conf.d",
            "etc/apt/sources.list.d",
            "etc/apt/preferences.d",
            "var/log/apt",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        let r = root.display().to_string();
        let conf = base.join("apt.conf");
        let mut apt_conf = read(fixture("apt.conf.in")).replace("@ROOT@", &r);
        if postinst.is_some() {
            apt_conf.push_str("DPkg::Options:: \"--force-script-chrootless\";\n");
        }
        std::fs::write(&conf, apt_conf).unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list"),
            read(fixture("sources.list.in")).replace("@REPO@", &repo.display().to_string()),
        )
        .unwrap();
        std::fs::create_dir_all(&repo).unwrap();
        let pr = PrivateRoot {
            _dir: dir,
            root,
            repo,
            conf,
            debs,
        };
        pr.publish("1.0");
        // apt fetches an index only if it changed, by its time to the
        // second: the 1.0 one is an hour old, as if the repository had
        // changed since.
        sh(&format!(
            "touch -d '1 hour ago' '{}/Packages'",
            pr.repo.display()
        ));
        sh(&format!(
            "export APT_CONFIG='{}'; apt-get -qq update && apt-get -qq -y install ua-fixture >/dev/null",
            pr.conf.display()
        ));
        assert_eq!(pr.installed(), "1.0");
        pr
    }

    /// Puts ua-fixture VERSION into the repository and indexes it.
    pub fn publish(&self, version: &str) {
        sh(&format!(
            "cp '{}/ua-fixture_{version}_all.deb' '{repo}/' && cd '{repo}' && dpkg-scanpackages -m . > Packages 2>/dev/null",
            self.debs.display(),
            repo = self.repo.display()
        ));
    }

    /// The version the private dpkg database has installed.
    pub fn installed(&self) -> String {
        sh(&format!(
            "dpkg-query --admindir='{}/var/lib/dpkg' -W -f '${{Version}}' ua-fixture",
            self.root.display()
        ))
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("UPDATE_ALL_APT_CONFIG", self.conf.display().to_string())]
    }

    pub fn run(&self, command: &str) -> std::process::Output {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ok(
            &format!("apt {command}"),
            crate::run("apt", &[command], &env),
        )
    }

    /// ua-fixture 1.0 installed, 3.0 in the repository and the lists, and
    /// a dpkg run cut short as a power cut leaves it: 2.0 unpacked over
    /// 1.0, not configured, and that change still in dpkg's journal
    /// (`updates/`), not yet in the status file. apt refuses to work on it.
    pub fn interrupted(dir: tempfile::TempDir) -> PrivateRoot {
        let pr = PrivateRoot::new(dir);
        let (root, conf) = (pr.root.display(), pr.conf.display());
        pr.publish("3.0");
        sh(&format!("APT_CONFIG='{conf}' apt-get -qq update"));
        let status = pr.root.join("var/lib/dpkg/status");
        let sound = read(&status);
        sh(&format!(
            "dpkg --root='{root}' --log='{root}/var/log/dpkg.log' --unpack '{}/ua-fixture_2.0_all.deb' >/dev/null",
            pr.debs.display()
        ));
        assert_eq!(pr.abbrev(), "iU", "2.0 unpacked, not configured");
        // dpkg killed before it folded its journal into the status file:
        // the status file says 1.0 is installed, the journal holds 2.0's
        // record.
        let unpacked = read(&status);
        let record = unpacked
            .split("\n\n")
            .find(|r| r.starts_with("Package: ua-fixture\n"))
            .expect("ua-fixture's record");
        std::fs::write(
            pr.root.join("var/lib/dpkg/updates/0000"),
            format!("{}\n", record.trim_end()),
        )
        .unwrap();
        std::fs::write(&status, &sound).unwrap();
        assert_eq!(pr.abbrev(), "iU", "dpkg reads its journal");
        let refused = std::process::Command::new("apt-get")
            .args(["-q", "check"])
            .env("APT_CONFIG", pr.conf.as_os_str())
            .output()
            .unwrap();
        assert!(
            !refused.status.success()
                && String::from_utf8_lossy(&refused.stderr).contains("dpkg --configure -a"),
            "apt should refuse an interrupted dpkg:\n{}",
            String::from_utf8_lossy(&refused.stderr)
        );
        pr
    }

    /// ua-fixture's `db:Status-Abbrev` in the private root (dpkg-query(1)):
    /// `ii` installed, `iU` unpacked.
    pub fn abbrev(&self) -> String {
        sh(&format!(
            "dpkg-query --admindir='{}/var/lib/dpkg' -W -f '${{db:Status-Abbrev}}' ua-fixture",
            self.root.display()
        ))
        .trim()
        .to_owned()
    }

    pub fn cached(&self) -> bool {
        self.root
            .join("var/cache/apt/archives/ua-fixture_2.0_all.deb")
            .is_file()
    }
}
