//! Fixtures for the update-policy tests (tests/policy.rs): a security suite
//! beside apt's private root, and a local npm registry.

use crate::apt::PrivateRoot;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use testbed::host_sh as sh;

/// The flat repositories' indexes: Packages, and for a suite a Release
/// file that names it (`Suite`, `Codename`, `Label`) with the Packages
/// file's SHA256, as apt checks it. Older than the next publication by an
/// hour, since apt fetches an index only when its time changed.
fn index(repo: &Path, release: Option<(&str, &str)>) {
    let mut script = format!(
        "cd '{}' && dpkg-scanpackages -m . > Packages 2>/dev/null",
        repo.display()
    );
    if let Some((suite, label)) = release {
        script.push_str(&format!(
            " && {{ printf 'Origin: Debian\\nLabel: {label}\\nSuite: {suite}\\nCodename: {suite}\\n\
             Date: %s\\nArchitectures: all amd64\\nSHA256:\\n' \"$(date -uR)\"; \
             printf ' %s %s Packages\\n' \"$(sha256sum Packages | cut -d' ' -f1)\" \
             \"$(stat -c%s Packages)\"; }} > Release"
        ));
    }
    sh(&script);
}

/// `pr` with a second flat repository that is a security suite (Suite
/// `stable-security`, Label `Debian-Security`, as Debian's security
/// archive says) holding `ua-secfix`: 1.0 is installed from it, then 1.1
/// published there, and ua-fixture 2.0 in the normal repository, and the
/// lists refreshed. So ua-secfix 1.0 → 1.1 is a security update and
/// ua-fixture 1.0 → 2.0 is not.
pub fn with_security_suite(pr: &PrivateRoot) -> PathBuf {
    let base = pr.root.parent().expect("the root's scratch directory");
    let repo = base.join("repo-security");
    std::fs::create_dir_all(&repo).unwrap();
    let control = crate::read(crate::fixtures_dir().join("apt/control.in"))
        .replace("Package: ua-fixture", "Package: ua-secfix");
    for v in ["1.0", "1.1"] {
        let pkg = base.join(format!("build-secfix-{v}"));
        std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
        std::fs::write(pkg.join("DEBIAN/control"), control.replace("@VERSION@", v)).unwrap();
        sh(&format!(
            "dpkg-deb --root-owner-group -Zgzip -b '{}' '{}' >/dev/null",
            pkg.display(),
            pr.debs.display()
        ));
    }
    std::fs::write(
        pr.root.join("etc/apt/sources.list.d/security.list"),
        format!("deb [trusted=yes] copy:{} ./\n", repo.display()),
    )
    .unwrap();
    let apt = format!("export APT_CONFIG='{}';", pr.conf.display());
    sh(&format!(
        "cp '{}/ua-secfix_1.0_all.deb' '{}/'",
        pr.debs.display(),
        repo.display()
    ));
    index(&repo, Some(("stable-security", "Debian-Security")));
    sh(&format!(
        "{apt} apt-get -qq update && apt-get -qq -y install ua-secfix >/dev/null"
    ));
    sh(&format!(
        "touch -d '1 hour ago' '{0}/Packages' '{0}/Release'",
        repo.display()
    ));
    sh(&format!(
        "cp '{}/ua-secfix_1.1_all.deb' '{}/'",
        pr.debs.display(),
        repo.display()
    ));
    index(&repo, Some(("stable-security", "Debian-Security")));
    pr.publish("2.0");
    sh(&format!("{apt} apt-get -qq update"));
    repo
}

/// The version of `package` the private root's dpkg has installed.
pub fn installed(pr: &PrivateRoot, package: &str) -> String {
    sh(&format!(
        "dpkg-query --admindir='{}/var/lib/dpkg' -W -f '${{Version}}' {package}",
        pr.root.display()
    ))
}

/// A local npm registry for one package: the package's versions, packed
/// with `npm pack`, and its packument (`GET /<name>`, the registry's JSON
/// document with every version, its tarball and checksum, and the
/// release times), served over HTTP on a loopback port by a thread of the
/// test, until the process ends.
pub struct NpmRegistry {
    /// `http://127.0.0.1:PORT/`: npm_config_registry.
    pub url: String,
}

impl NpmRegistry {
    /// Serves `name` at `versions` (version, release time in ISO 8601)
    /// from `dir`; the last version is `latest`.
    pub fn serve(dir: &Path, name: &str, versions: &[(&str, &str)]) -> NpmRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let files = dir.join("registry");
        std::fs::create_dir_all(files.join("tarballs")).unwrap();
        let mut entries = Vec::new();
        let mut times = vec![format!("\"created\":\"{}\"", versions[0].1)];
        for (version, time) in versions {
            let build = dir.join(format!("build-{version}"));
            std::fs::create_dir_all(&build).unwrap();
            std::fs::write(
                build.join("package.json"),
                format!(
                    "{{\"name\":\"{name}\",\"version\":\"{version}\",\
                     \"description\":\"update-all policy fixture\",\"license\":\"MIT\"}}\n"
                ),
            )
            .unwrap();
            sh(&format!(
                "cd '{}' && npm pack --silent --pack-destination '{}' >/dev/null 2>&1",
                build.display(),
                files.join("tarballs").display()
            ));
            let tarball = files.join(format!("tarballs/{name}-{version}.tgz"));
            let sums = sh(&format!(
                "sha1sum '{0}' | cut -d' ' -f1; openssl dgst -sha512 -binary '{0}' | base64 -w0",
                tarball.display()
            ));
            let mut sums = sums.lines();
            let (sha1, sha512) = (sums.next().unwrap(), sums.next().unwrap());
            entries.push(format!(
                "\"{version}\":{{\"name\":\"{name}\",\"version\":\"{version}\",\"dist\":{{\
                 \"tarball\":\"{url}tarballs/{name}-{version}.tgz\",\"shasum\":\"{sha1}\",\
                 \"integrity\":\"sha512-{sha512}\"}}}}"
            ));
            times.push(format!("\"{version}\":\"{time}\""));
        }
        let latest = versions.last().unwrap().0;
        std::fs::write(
            files.join(name),
            format!(
                "{{\"name\":\"{name}\",\"dist-tags\":{{\"latest\":\"{latest}\"}},\
                 \"versions\":{{{}}},\"time\":{{{}}}}}",
                entries.join(","),
                times.join(",")
            ),
        )
        .unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &files);
            }
        });
        NpmRegistry { url }
    }
}

/// One HTTP/1.1 GET, answered with the file under `root` its path names
/// (JSON or a tarball), or 404; the connection is closed after it.
fn answer(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let rel = path.trim_start_matches('/').split('?').next().unwrap_or("");
    let file = (!rel.contains("..")).then(|| root.join(rel));
    match file.and_then(|f| std::fs::read(f).ok()) {
        Some(body) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body)
        }
        None => stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    }
}
