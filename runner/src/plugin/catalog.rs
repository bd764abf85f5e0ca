//! Every plugin manifest of one scope and what became of it — enabled,
//! disabled or refused — for `update-all plugins`, all from the
//! generator's inventory: it is the one reader of manifests, and only
//! plugins that passed its trust checks are ever run.

use std::path::PathBuf;
use update_all_core::inventory::{self, Plugin};
use update_all_core::manifest::Manifest;
use update_all_core::{Diagnostic, Env};

/// What the inventory made of a manifest.
#[derive(Clone, Debug)]
pub enum CatalogState {
    Enabled(Plugin),
    /// Turned off by its manifest or the configuration; why.
    Disabled(Plugin, &'static str),
    /// Not usable, and never run; the reasons, and the manifest when it
    /// parsed.
    Refused(Vec<Diagnostic>, Option<Box<Manifest>>),
}

impl CatalogState {
    pub fn as_str(&self) -> &'static str {
        match self {
            CatalogState::Enabled(_) => "enabled",
            CatalogState::Disabled(..) => "disabled",
            CatalogState::Refused(..) => "refused",
        }
    }

    /// Why it is not enabled, in one line.
    pub fn why(&self) -> Option<String> {
        match self {
            CatalogState::Enabled(_) => None,
            CatalogState::Disabled(_, why) => Some((*why).to_owned()),
            CatalogState::Refused(reasons, _) => Some(
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
    pub state: CatalogState,
    /// The manifest as the real system sees it.
    pub source: PathBuf,
}

impl Entry {
    /// What the manifest says; `None` only for a refused manifest that did
    /// not parse.
    pub fn manifest(&self) -> Option<&Manifest> {
        match &self.state {
            CatalogState::Enabled(p) | CatalogState::Disabled(p, _) => Some(&p.manifest),
            CatalogState::Refused(_, m) => m.as_deref(),
        }
    }

    /// The plugin, when it passed every check of the generator and so may
    /// be run by hand; `None` for a refused one, which never is.
    pub fn runnable(&self) -> Option<&Plugin> {
        match &self.state {
            CatalogState::Enabled(p) | CatalogState::Disabled(p, _) => Some(p),
            CatalogState::Refused(..) => None,
        }
    }

    pub fn is_refused(&self) -> bool {
        matches!(self.state, CatalogState::Refused(..))
    }
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
                source: p.source.clone(),
                state: CatalogState::Enabled(p),
            })
            .collect();
        entries.extend(inv.disabled.into_iter().map(|d| Entry {
            name: d.name,
            source: d.plugin.source.clone(),
            state: CatalogState::Disabled(d.plugin, d.why),
        }));
        entries.extend(inv.refused.into_iter().map(|r| {
            let file_name = r.file.file_stem().map(|f| f.to_string_lossy().into_owned());
            Entry {
                name: r.name.or(file_name).unwrap_or_default(),
                source: env.unresolve(&r.file),
                state: CatalogState::Refused(r.reasons, r.manifest),
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
                update_all_core::Scope::System => "user",
                update_all_core::Scope::User => "system",
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
