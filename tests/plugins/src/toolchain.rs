//! What pipx and npm installed, for the toolchain plugins' tests
//! (toolchains.rs, rollback.rs): an old version is installed into a
//! throw-away home or prefix, read back the way the tools keep it; npm's
//! from a registry of the test's own, pipx's from wheels of its own.

use std::path::Path;
use testbed::host_sh as sh;

/// What `pipx list --json` says of a venv's main package version.
pub fn pipx_version(home: &Path, venv: &str) -> String {
    let out = sh(&format!("PIPX_HOME='{}' pipx list --json", home.display()));
    let doc: serde_json::Value = serde_json::from_str(&out).expect("pipx list --json");
    doc["venvs"][venv]["metadata"]["main_package"]["package_version"]
        .as_str()
        .unwrap_or_else(|| panic!("no {venv} in {doc}"))
        .to_owned()
}

/// The version npm installed of a package under a prefix.
pub fn npm_version(prefix: &Path, package: &str) -> String {
    let path = prefix.join(format!("lib/node_modules/{package}/package.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: serde_json::Value = serde_json::from_str(&text).expect("package.json");
    doc["version"].as_str().expect("version").to_owned()
}

/// A throw-away pipx: its home, bin, man and cache directories under one
/// scratch directory, with `spec` (`cowsay==5.0`) installed from wheels of
/// the test's own (tests/fixtures/pipx/make-index.sh: cowsay 5.0 and 6.1)
/// and pip told to look nowhere else (PIP_NO_INDEX, PIP_FIND_LINKS): no
/// step reaches PyPI, so an index that does not answer for a moment fails
/// no test. (pipx's upgrade of its shared pip then fails, which it only
/// warns about.)
pub struct Pipx {
    _dir: tempfile::TempDir,
    /// UPDATE_ALL_PIPX_HOME and friends, XDG_CACHE_HOME and pip's index
    /// settings, for the plugin.
    pub env: Vec<(&'static str, String)>,
    pub home: std::path::PathBuf,
}

/// Wheels of cowsay 5.0 and 6.1 in `dir/wheels`
/// (tests/fixtures/pipx/make-index.sh), and the settings that make pip
/// (under pipx, and the pipx plugin's dry runs) look there and nowhere
/// else: PIP_NO_INDEX and PIP_FIND_LINKS.
pub fn pip_offline(dir: &Path) -> [(&'static str, String); 2] {
    sh(&format!(
        "'{}' '{}' 5.0 6.1",
        crate::fixtures_dir().join("pipx/make-index.sh").display(),
        dir.display()
    ));
    [
        ("PIP_NO_INDEX", "1".to_owned()),
        ("PIP_FIND_LINKS", dir.join("wheels").display().to_string()),
    ]
}

impl Pipx {
    pub fn with(dir: tempfile::TempDir, spec: &str) -> Pipx {
        let p = |s: &str| dir.path().join(s).display().to_string();
        let [no_index, find_links] = pip_offline(dir.path());
        sh(&format!(
            "PIPX_HOME='{}' PIPX_BIN_DIR='{}' PIPX_MAN_DIR='{}' XDG_CACHE_HOME='{}' \
             PIP_NO_INDEX=1 PIP_FIND_LINKS='{}' pipx install '{spec}' >/dev/null 2>&1",
            p("home"),
            p("bin"),
            p("man"),
            p("cache"),
            find_links.1
        ));
        let env = vec![
            ("UPDATE_ALL_PIPX_HOME", p("home")),
            ("UPDATE_ALL_PIPX_BIN_DIR", p("bin")),
            ("UPDATE_ALL_PIPX_MAN_DIR", p("man")),
            ("XDG_CACHE_HOME", p("cache")),
            no_index,
            find_links,
        ];
        let home = dir.path().join("home");
        Pipx {
            _dir: dir,
            env,
            home,
        }
    }
}

/// A throw-away npm global prefix and cache, with `spec` (`is-number@6`)
/// installed from a registry of its own on 127.0.0.1
/// ([`crate::policy::NpmRegistry`]: is-number 6.0.0 and 7.0.0, released
/// in 2020): no step reaches the npm registry, so a registry that does not
/// answer for a moment fails no test.
pub struct Npm {
    _dir: tempfile::TempDir,
    /// UPDATE_ALL_NPM_PREFIX, npm_config_cache and npm_config_registry,
    /// for the plugin.
    pub env: Vec<(&'static str, String)>,
    pub prefix: std::path::PathBuf,
}

impl Npm {
    pub fn with(dir: tempfile::TempDir, spec: &str) -> Npm {
        let (prefix, cache) = (dir.path().join("prefix"), dir.path().join("cache"));
        let registry = is_number_registry(dir.path());
        sh(&format!(
            "npm_config_registry='{}' npm_config_cache='{}' npm install -g --prefix '{}' {spec} >/dev/null 2>&1",
            registry.url,
            cache.display(),
            prefix.display()
        ));
        Npm {
            env: vec![
                ("UPDATE_ALL_NPM_PREFIX", prefix.display().to_string()),
                ("npm_config_cache", cache.display().to_string()),
                ("npm_config_registry", registry.url),
            ],
            _dir: dir,
            prefix,
        }
    }
}

/// [`crate::policy::NpmRegistry`] with is-number 6.0.0 and 7.0.0, released
/// in 2020, served from `dir`.
pub fn is_number_registry(dir: &Path) -> crate::policy::NpmRegistry {
    crate::policy::NpmRegistry::serve(
        dir,
        "is-number",
        &[
            ("6.0.0", "2020-01-02T00:00:00.000Z"),
            ("7.0.0", "2020-01-03T00:00:00.000Z"),
        ],
    )
}
