//! rpm packages built here, a local repository and a throw-away root,
//! for the dnf and zypper plugins' tests (rpm_managers.rs, rollback.rs).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use testbed::host_sh as sh;

/// A throw-away root and a local repository holding what `publish` put in.
pub struct RpmSetup {
    _dir: tempfile::TempDir,
    /// The throw-away root (dnf --installroot, zypper --root).
    pub root: PathBuf,
    /// The repository (createrepo_c).
    pub repo: PathBuf,
    /// ua-fixture 1.0 and 2.0, built.
    pub rpms: PathBuf,
}

impl RpmSetup {
    /// The setup in `dir`, a scratch directory the test bed can see.
    pub fn new(dir: tempfile::TempDir) -> RpmSetup {
        let base = dir.path().to_owned();
        let spec = crate::fixtures_dir().join("dnf/ua-fixture.spec");
        // --nodeps: no build dependencies to check, and so rpmbuild never
        // opens (or creates) the host's rpm database.
        for v in ["1.0", "2.0"] {
            sh(&format!(
                "rpmbuild -bb --quiet --nodeps --define 'ver {v}' --define '_topdir {}/rpmbuild' '{}' >/dev/null",
                base.display(),
                spec.display()
            ));
        }
        let setup = RpmSetup {
            root: base.join("root"),
            repo: base.join("repo"),
            rpms: base.join("rpmbuild/RPMS/noarch"),
            _dir: dir,
        };
        std::fs::create_dir_all(&setup.root).unwrap();
        std::fs::create_dir_all(&setup.repo).unwrap();
        setup
    }

    pub fn rpm(&self, version: &str) -> PathBuf {
        self.rpms.join(format!("ua-fixture-{version}-1.noarch.rpm"))
    }

    /// Adds ua-fixture VERSION to the repository and regenerates its
    /// metadata.
    pub fn publish(&self, version: &str) {
        sh(&format!(
            "cp '{}' '{repo}/' && createrepo_c --quiet --update '{repo}'",
            self.rpm(version).display(),
            repo = self.repo.display()
        ));
    }

    /// `rpm --root ROOT -q ua-fixture`.
    pub fn installed(&self) -> String {
        sh(&format!(
            "rpm --root '{}' -q ua-fixture || true",
            self.root.display()
        ))
        .trim()
        .to_owned()
    }

    pub fn write(&self, path: &str, text: String) {
        let path = self.root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Files named NAME anywhere under the root's DIR.
    pub fn found(&self, dir: &str, name: &str) -> bool {
        !sh(&format!(
            "find '{}' -name '{name}' 2>/dev/null || true",
            self.root.join(dir).display()
        ))
        .trim()
        .is_empty()
    }
}

/// A minimal HTTP/1.1 file server on 127.0.0.1 for one directory, which
/// records the paths it served.
pub struct Server {
    port: u16,
    served: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (dir, log, halt) = (dir.to_owned(), served.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                // A thread each: dnf keeps connections open and opens
                // several at once.
                if let Ok(conn) = conn {
                    let (dir, log) = (dir.clone(), log.clone());
                    std::thread::spawn(move || serve(conn, &dir, &log));
                }
            }
        });
        Server { port, served, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn served(&self, suffix: &str) -> usize {
        let log = self.served.lock().unwrap();
        log.iter().filter(|p| p.ends_with(suffix)).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes accept()
    }
}

/// Answers the requests of one connection (keep-alive) with files of `dir`.
fn serve(conn: TcpStream, dir: &Path, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
        }
        let mut words = request.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
        let path = path.split('?').next().unwrap_or("/").to_owned();
        let file = (!path.contains(".."))
            .then(|| std::fs::read(dir.join(path.trim_start_matches('/'))).ok())
            .flatten();
        match file {
            Some(body) => {
                log.lock().unwrap().push(path);
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                    body.len()
                )?;
                if method != "HEAD" {
                    out.write_all(&body)?;
                }
            }
            None => write!(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?,
        }
        out.flush()?;
    }
}
