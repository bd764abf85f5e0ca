//! Finds `*.yaml` files in layered directories the way systemd finds its
//! own configuration: a file in a higher-priority directory replaces one of
//! the same name in a lower one, and a symlink to /dev/null masks it. (An
//! empty file masks too; its readers see that when they read it, which
//! saves a `stat` per file here.)

use crate::diagnostic::Diagnostic;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The files that take effect, ordered by file name, and the problems met.
#[derive(Debug, Default)]
pub struct Found {
    pub files: Vec<PathBuf>,
    /// Files that are symlinks to /dev/null.
    pub masked: Vec<PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Scans `dirs` (lowest priority first) for `*.yaml` files.
pub fn discover(dirs: &[PathBuf]) -> Found {
    discover_matching(dirs, |name| name.ends_with(".yaml"))
}

/// Scans `dirs` (lowest priority first) for files whose name `wanted`
/// accepts (hidden files never count), as [`discover`] does: the health
/// checks' `health.d` directories take every file.
pub fn discover_matching(dirs: &[PathBuf], wanted: impl Fn(&str) -> bool) -> Found {
    let mut winners: BTreeMap<String, (PathBuf, bool)> = BTreeMap::new();
    let mut found = Found::default();
    for dir in dirs {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                found.diagnostics.push(Diagnostic::warning(
                    Some(dir),
                    format!("cannot read this directory ({e}); its files are ignored"),
                ));
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                found.diagnostics.push(Diagnostic::warning(
                    Some(&entry.path()),
                    "file name is not valid UTF-8; the file is ignored, rename it",
                ));
                continue;
            };
            if wanted(name) && !name.starts_with('.') {
                // The directory entry's type is free; only links cost a look.
                let link = entry.file_type().is_ok_and(|t| t.is_symlink());
                winners.insert(name.to_owned(), (entry.path(), link));
            }
        }
    }
    for (path, link) in winners.into_values() {
        if link && fs::read_link(&path).is_ok_and(|t| t == Path::new("/dev/null")) {
            found.masked.push(path);
        } else {
            found.files.push(path);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_masking() {
        let t = tempfile::tempdir().unwrap();
        let (low, high) = (t.path().join("low"), t.path().join("high"));
        fs::create_dir_all(&low).unwrap();
        fs::create_dir_all(&high).unwrap();
        for n in ["a.yaml", "b.yaml", "c.yaml", "d.yaml", "ignored.txt"] {
            fs::write(low.join(n), "x").unwrap();
        }
        fs::write(high.join("a.yaml"), "y").unwrap();
        fs::write(high.join("b.yaml"), "").unwrap();
        std::os::unix::fs::symlink("/dev/null", high.join("c.yaml")).unwrap();
        let found = discover(&[low.clone(), t.path().join("missing"), high.clone()]);
        assert_eq!(
            found.files,
            vec![high.join("a.yaml"), high.join("b.yaml"), low.join("d.yaml")]
        );
        assert_eq!(found.masked, vec![high.join("c.yaml")]);
        assert!(found.diagnostics.is_empty());
    }
}
