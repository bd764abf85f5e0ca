//! The workspace's metadata as packagers read it: the `rust-version` that
//! every member inherits is the one the dependencies in Cargo.lock need (no
//! lower, or an older toolchain would be let in to fail; no higher than
//! they make it), and the project's `repository` is the one URL that the
//! members and the packages name.

use packaging_tests::{repo, sh};
use serde_json::Value;

/// `cargo metadata` of the workspace, with every package in Cargo.lock.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = sh(&format!(
        "cd '{}' && '{cargo}' metadata --format-version 1 --locked",
        repo().display()
    ));
    serde_json::from_str(&out).expect("cargo metadata prints JSON")
}

/// "1.89" and "1.89.0" as the same comparable version.
fn version(text: &str) -> Vec<u32> {
    let mut parts: Vec<u32> = text
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("not a version: {text}"))
        })
        .collect();
    parts.resize(3, 0);
    parts
}

#[test]
fn members_inherit_the_rust_version_the_dependencies_need_and_the_repository() {
    let meta = metadata();
    let members: Vec<&Value> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let packages = meta["packages"].as_array().unwrap();
    let (ours, theirs): (Vec<&Value>, Vec<&Value>) =
        packages.iter().partition(|p| members.contains(&&p["id"]));
    assert_eq!(ours.len(), members.len());

    let (needed, by) = theirs
        .iter()
        .filter_map(|p| Some((version(p["rust_version"].as_str()?), p["name"].as_str()?)))
        .max()
        .expect("dependencies with a rust-version");
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let workspace = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("[workspace.package] rust-version")
        .trim_matches('"');
    assert_eq!(
        version(workspace),
        needed,
        "the workspace's rust-version is {workspace}; {by} needs {needed:?}"
    );
    for package in &ours {
        let name = &package["name"];
        assert_eq!(package["rust_version"].as_str(), Some(workspace), "{name}");
        assert_eq!(
            package["repository"].as_str(),
            Some(REPOSITORY),
            "{name}: repository.workspace = true"
        );
    }
    // The RPM's build requirements say the same.
    let spec = std::fs::read_to_string(repo().join("packaging/rpm/update-all.spec")).unwrap();
    for tool in ["cargo", "rust"] {
        let line = format!("BuildRequires:  {tool} >= {workspace}\n");
        assert!(spec.contains(&line), "the spec lacks {line:?}");
    }
}

/// The project's home, as Cargo.toml names it.
const REPOSITORY: &str = "https://github.com/update-all/update-all";

#[test]
fn the_packages_name_the_project_repository() {
    let read = |path: &str| std::fs::read_to_string(repo().join(path)).unwrap();
    for (path, line) in [
        (
            "packaging/rpm/update-all.spec",
            format!("URL:            {REPOSITORY}"),
        ),
        ("packaging/arch/PKGBUILD", format!("url='{REPOSITORY}'")),
        (
            "packaging/deb/control.in",
            format!("Homepage: {REPOSITORY}"),
        ),
    ] {
        assert!(
            read(path).lines().any(|l| l == line),
            "{path} lacks {line:?}"
        );
    }
    let placeholder = "example.invalid/update-all";
    for path in [
        "Cargo.toml",
        "packaging/rpm/update-all.spec",
        "packaging/arch/PKGBUILD",
    ] {
        assert!(
            !read(path).contains(placeholder),
            "{path} names {placeholder}"
        );
    }
}
