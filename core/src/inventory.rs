//! Reads every manifest of one scope, checks it, and sorts plugins into
//! usable, disabled and refused. A bad manifest costs only itself.

use crate::config::{self, Config};
use crate::diagnostic::Diagnostic;
use crate::discovery::discover;
use crate::locate;
use crate::manifest::{Manifest, ManifestFile, Phase};
use crate::names::unit_name;
use crate::paths::Env;
use crate::trust::Trust;
use crate::values::PluginName;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A plugin whose manifest was accepted.
#[derive(Clone, Debug)]
pub struct Plugin {
    pub manifest: Manifest,
    /// The manifest as the real system sees it (without the root prefix).
    pub source: PathBuf,
    /// The manifest as it was read (under the root prefix).
    pub path: PathBuf,
}

impl Plugin {
    pub fn name(&self) -> &PluginName {
        &self.manifest.name
    }
}

/// A plugin left out, and why. Nothing of it is ever run: not by its
/// units, which are not written, nor by the runner.
#[derive(Clone, Debug, Serialize)]
pub struct Refusal {
    /// The plugin's name, when the manifest got far enough to tell it.
    pub name: Option<String>,
    pub file: PathBuf,
    pub reasons: Vec<Diagnostic>,
    /// The manifest, when it parsed: what `update-all plugins` shows of
    /// the plugin (this is the only reader of manifests).
    #[serde(skip)]
    pub manifest: Option<Box<Manifest>>,
}

/// A plugin turned off on purpose. It passed every check, so the runner
/// may still run it by hand (`update-all plugins validate`).
#[derive(Clone, Debug, Serialize)]
pub struct Disabled {
    pub name: String,
    pub file: PathBuf,
    pub why: &'static str,
    #[serde(skip)]
    pub plugin: Plugin,
}

#[derive(Debug, Default)]
pub struct Inventory {
    /// Usable plugins of this scope, sorted by name.
    pub plugins: Vec<Plugin>,
    pub refused: Vec<Refusal>,
    pub disabled: Vec<Disabled>,
    /// Names of valid plugins that belong to the other scope.
    pub other_scope: Vec<PluginName>,
    pub masked: Vec<PathBuf>,
    /// Problems that refused nothing (configuration, directories).
    pub warnings: Vec<Diagnostic>,
    pub config: Config,
}

impl Inventory {
    /// Why `name` is not among the usable plugins, for messages about
    /// references to it.
    pub fn absence(&self, name: &PluginName) -> &'static str {
        if self.disabled.iter().any(|d| d.name == name.as_str()) {
            "is disabled"
        } else if self
            .refused
            .iter()
            .any(|r| r.name.as_deref() == Some(name.as_str()))
        {
            "was refused"
        } else {
            "is not defined by any valid manifest"
        }
    }
}

/// Reads and checks everything `env` points at.
pub fn load(env: &Env) -> Inventory {
    let (config, mut warnings) = config::load(env);
    let found = discover(&env.manifest_dirs());
    warnings.extend(found.diagnostics);
    let user = env.trusted_user();
    let mut inv = Inventory {
        masked: found.masked,
        warnings,
        ..Inventory::default()
    };

    let mut accepted: BTreeMap<PluginName, Vec<Plugin>> = BTreeMap::new();
    let read = crate::parallel::map_chunks(&found.files, |paths| {
        let mut trust = Trust::new(&env.root, user);
        paths
            .iter()
            .map(|path| (path.clone(), read_manifest(env, &mut trust, path)))
            .collect()
    });
    for (path, result) in read {
        match result {
            Ok(None) => inv.masked.push(path),
            Ok(Some(plugin)) if plugin.manifest.scope() != env.scope => {
                inv.other_scope.push(plugin.manifest.name)
            }
            Ok(Some(plugin)) => accepted
                .entry(plugin.manifest.name.clone())
                .or_default()
                .push(plugin),
            Err(refusal) => inv.refused.push(refusal),
        }
    }

    for (name, mut defs) in accepted {
        if defs.len() > 1 {
            let files: Vec<String> = defs.iter().map(|p| p.path.display().to_string()).collect();
            for p in defs {
                inv.refused.push(Refusal {
                    name: Some(name.to_string()),
                    reasons: vec![Diagnostic::error(
                        Some(&p.path),
                        format!(
                            "plugin `{name}` is defined by more than one file ({}); \
                             rename one plugin or remove one file",
                            files.join(", ")
                        ),
                    )],
                    file: p.path,
                    manifest: Some(Box::new(p.manifest)),
                });
            }
            continue;
        }
        let plugin = defs.pop().expect("one definition");
        let why = config.disables(&name).or_else(|| {
            (!plugin.manifest.enabled && !config.enables(&name))
                .then_some("`enabled: false` in its manifest")
        });
        match why {
            Some(why) => inv.disabled.push(Disabled {
                name: name.to_string(),
                file: plugin.path.clone(),
                why,
                plugin,
            }),
            None => inv.plugins.push(plugin),
        }
    }
    inv.config = config;
    warn_about_unknown_names(&mut inv);
    inv
}

/// Larger manifests are refused rather than read in part.
const MAX_MANIFEST: u64 = 1 << 20;

/// Reads one manifest; `None` when it is empty, which masks the name.
fn read_manifest(env: &Env, trust: &mut Trust, path: &Path) -> Result<Option<Plugin>, Refusal> {
    let refuse = |name: Option<String>, reason: Diagnostic| Refusal {
        name,
        file: path.to_path_buf(),
        reasons: vec![reason],
        manifest: None,
    };
    let source = env.unresolve(path);
    if let Some(bad) = source
        .to_str()
        .and_then(|s| s.chars().find(|c| c.is_control()))
    {
        return Err(refuse(
            None,
            Diagnostic::error(
                Some(path),
                format!("the file name contains the control character {bad:?}; rename the file"),
            ),
        ));
    }
    let (real, meta) = trust.check_file(path, false).map_err(|why| {
        refuse(
            None,
            Diagnostic::error(Some(path), format!("manifest not trusted: {why}")),
        )
    })?;
    if meta.len() > MAX_MANIFEST {
        return Err(refuse(
            None,
            Diagnostic::error(
                Some(path),
                format!(
                    "the manifest is {} bytes; at most {MAX_MANIFEST} are read",
                    meta.len()
                ),
            ),
        ));
    }
    let text = read_text(&real, meta.len()).map_err(|e| {
        refuse(
            None,
            Diagnostic::error(Some(path), format!("cannot read the manifest: {e}")),
        )
    })?;
    if text.is_empty() {
        return Ok(None);
    }
    let manifest = serde_norway::from_str::<ManifestFile>(&text)
        .map_err(|e| refuse(None, Diagnostic::from_yaml(path, &e)))?
        .plugin;
    if manifest.scope() == env.scope {
        let refused = reserved(&manifest, path, &text)
            .or_else(|| {
                let exe = env.resolve(Path::new(manifest.executable.as_str()));
                let why = trust.check_file(&exe, true).err()?;
                Some(Diagnostic::error(
                    Some(path),
                    format!(
                        "executable {} not usable: {why}",
                        manifest.executable.as_str()
                    ),
                ))
            })
            .or_else(|| untrusted_health_check(env, trust, &manifest, path, &text));
        if let Some(reason) = refused {
            return Err(Refusal {
                name: Some(manifest.name.to_string()),
                manifest: Some(Box::new(manifest)),
                ..refuse(None, reason)
            });
        }
    }
    Ok(Some(Plugin {
        manifest,
        source,
        path: path.to_path_buf(),
    }))
}

/// The first of the manifest's `health.exec` programs that fails the
/// checks of a plugin's executable: the health unit runs them as root (or
/// as the user), so they must be as safe to run as the plugin itself.
fn untrusted_health_check(
    env: &Env,
    trust: &mut Trust,
    manifest: &Manifest,
    path: &Path,
    text: &str,
) -> Option<Diagnostic> {
    let health = manifest.health.as_ref()?;
    health.exec.iter().find_map(|exec| {
        let exe = env.resolve(Path::new(exec.as_str()));
        let why = trust.check_file(&exe, true).err()?;
        Some(locate::error_at(
            path,
            text,
            &["plugin", "health", "exec"],
            format!("health check {exec} not usable: {why}"),
        ))
    })
}

/// Why `manifest`'s name may not be used, when it is reserved: its unit
/// would replace one that update-all ships, or will.
fn reserved(manifest: &Manifest, path: &Path, text: &str) -> Option<Diagnostic> {
    let name = &manifest.name;
    let (reserved, purpose) = name.reserved()?;
    let unit = unit_name(name.as_str(), Phase::Update);
    let whose = if name.as_str() == reserved {
        format!("its unit would replace update-all's own {unit}, {purpose}")
    } else {
        format!(
            "its unit {unit} would take a name of update-all-{reserved}-*.service, kept for \
             {purpose}"
        )
    };
    Some(locate::error_at(
        path,
        text,
        &["plugin", "name"],
        format!(
            "the plugin name `{name}` is reserved: {whose}; rename the plugin \
             (see \"Reserved names\" in docs/manifest.md)"
        ),
    ))
}

/// Reads a file whose size `lstat` just gave, usually in one `read`
/// (`read_to_end` would add an `fstat` and an `lseek` per file, which shows
/// at boot with hundreds of manifests).
fn read_text(path: &Path, size: u64) -> std::io::Result<String> {
    use std::io::Read;
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let mut buf = vec![0; size.saturating_add(1)];
    let mut file = fs::File::open(path)?;
    let mut len = 0;
    while len < size && len < buf.len() {
        match file.read(&mut buf[len..])? {
            0 => break,
            n => len += n,
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Names in `runs_after` and in the configuration's lists that match no
/// usable plugin are worth a warning, never a refusal.
fn warn_about_unknown_names(inv: &mut Inventory) {
    let mut warnings = Vec::new();
    for plugin in &inv.plugins {
        if plugin.manifest.requires_sudo && plugin.manifest.scope() == crate::Scope::User {
            warnings.push(Diagnostic::warning(
                Some(&plugin.path),
                format!(
                    "plugin `{}` has requires_sudo: true but scope: user; a user manager \
                     cannot gain root, so its updates will likely fail. Use scope: system",
                    plugin.name()
                ),
            ));
        }
        for dep in &plugin.manifest.runs_after {
            // A plugin of the other scope is no mistake: `update-all run`
            // runs the system target before the user's, which orders them.
            let elsewhere = inv.other_scope.contains(dep);
            if !elsewhere && !inv.plugins.iter().any(|p| p.name() == dep) {
                warnings.push(Diagnostic::warning(
                    Some(&plugin.path),
                    format!(
                        "plugin `{}` runs_after `{dep}`, which {}; the ordering is ignored",
                        plugin.name(),
                        inv.absence(dep)
                    ),
                ));
            }
        }
    }
    let known = |n: &PluginName| {
        inv.plugins.iter().any(|p| p.name() == n)
            || inv.disabled.iter().any(|d| d.name == n.as_str())
            || inv.other_scope.contains(n)
            || inv
                .refused
                .iter()
                .any(|r| r.name.as_deref() == Some(n.as_str()))
    };
    let listed = inv
        .config
        .enabled
        .iter()
        .flatten()
        .chain(&inv.config.disabled)
        .chain(inv.config.policy_overrides.keys());
    for name in listed {
        if !known(name) {
            warnings.push(Diagnostic::warning(
                None,
                format!("the configuration names plugin `{name}`, which no manifest defines"),
            ));
        }
    }
    inv.warnings.extend(warnings);
}
