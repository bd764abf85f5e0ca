//! Every plugin manifest of one scope and what became of it — enabled,
//! disabled (with its manifest, read again, since the inventory keeps only
//! the reason) or refused — for `update-all plugins`.

use std::path::PathBuf;
use update_all_generator::inventory;
use update_all_generator::manifest::{Manifest, ManifestFile};
use update_all_generator::{Diagnostic, Env};

/// What the inventory made of a manifest.
#[derive(Clone, Debug)]
pub enum State {
    Enabled,
    /// Turned off by its manifest or the configuration; why.
    Disabled(&'static str),
    /// Not usable; the reasons.
    Refused(Vec<Diagnostic>),
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Enabled => "enabled",
            State::Disabled(_) => "disabled",
            State::Refused(_) => "refused",
        }
    }

    /// Why it is not enabled, in one line.
    pub fn why(&self) -> Option<String> {
        match self {
            State::Enabled => None,
            State::Disabled(why) => Some((*why).to_owned()),
            State::Refused(reasons) => Some(
                reasons
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    /// The plugin's name, or the manifest's file name without `.yaml` when
    /// it was refused before its name could be read.
    pub name: String,
    pub state: State,
    /// `None` only for a refused manifest that did not parse.
    pub manifest: Option<Manifest>,
    /// The manifest as the real system sees it.
    pub source: PathBuf,
}

#[derive(Debug)]
pub struct Catalog {
    /// Sorted by name.
    pub entries: Vec<Entry>,
    /// Names of plugins that belong to the other scope.
    pub other_scope: Vec<String>,
    /// Problems with the configuration or the directories.
    pub warnings: Vec<Diagnostic>,
}

impl Catalog {
    pub fn load(env: &Env) -> Self {
        let inv = inventory::load(env);
        let mut entries: Vec<Entry> = inv
            .plugins
            .into_iter()
            .map(|p| Entry {
                name: p.name().to_string(),
                state: State::Enabled,
                manifest: Some(p.manifest),
                source: p.source,
            })
            .collect();
        entries.extend(inv.disabled.into_iter().map(|d| Entry {
            manifest: reread(&d.file),
            name: d.name,
            state: State::Disabled(d.why),
            source: env.unresolve(&d.file),
        }));
        entries.extend(inv.refused.into_iter().map(|r| {
            let file_name = r.file.file_stem().map(|f| f.to_string_lossy().into_owned());
            Entry {
                name: r.name.or(file_name).unwrap_or_default(),
                // Refused for its executable or a duplicate name, a
                // manifest may still parse; show what it says.
                manifest: reread(&r.file),
                state: State::Refused(r.reasons),
                source: env.unresolve(&r.file),
            }
        }));
        entries.sort_by(|a, b| a.name.cmp(&b.name).then(a.source.cmp(&b.source)));
        let mut other_scope: Vec<String> = inv.other_scope.iter().map(|n| n.to_string()).collect();
        other_scope.sort();
        other_scope.dedup();
        Catalog {
            entries,
            other_scope,
            warnings: inv.warnings,
        }
    }

    /// The entries named `name` (more than one when two manifests define
    /// it), or a message saying why there is none.
    pub fn find(&self, name: &str, env: &Env) -> Result<Vec<&Entry>, String> {
        let found: Vec<&Entry> = self.entries.iter().filter(|e| e.name == name).collect();
        if !found.is_empty() {
            return Ok(found);
        }
        let scope = env.scope.as_str();
        if self.other_scope.iter().any(|n| n == name) {
            let other = match env.scope {
                update_all_generator::Scope::System => "user",
                update_all_generator::Scope::User => "system",
            };
            return Err(format!(
                "plugin `{name}` belongs to the {other} scope; use `update-all --{other} plugins …`"
            ));
        }
        Err(format!(
            "no plugin `{name}` in the {scope} scope; `update-all plugins list` shows them all"
        ))
    }
}

/// The manifest in `file` (as read under the root), if it parses.
fn reread(file: &std::path::Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(file).ok()?;
    serde_norway::from_str::<ManifestFile>(&text)
        .ok()
        .map(|f| f.plugin)
}
