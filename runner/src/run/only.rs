//! The units `update-all run --only a,b` starts, in an order systemd keeps.

use crate::systemd::{Bus, PluginUnit};
use crate::watch::Fail;
use update_all_core::Phase;

/// The update units of the plugins named in `--only`, ordered so that a
/// unit comes after every selected unit it is `After=`; systemd then
/// orders their jobs. Unknown names: the list of the known ones.
pub async fn selected(
    bus: &Bus,
    units: &[PluginUnit],
    only: &[String],
) -> Result<Vec<String>, Fail> {
    let mut known: Vec<&str> = units.iter().map(|u| u.plugin.as_str()).collect();
    known.sort();
    known.dedup();
    let unknown: Vec<&str> = only
        .iter()
        .map(String::as_str)
        .filter(|name| !known.contains(name))
        .collect();
    if !unknown.is_empty() {
        let refused = crate::check::dynamic::refused_among(bus.scope, &unknown);
        if !refused.is_empty() {
            return Err(refused.join("\n"));
        }
        return Err(format!(
            "unknown plugin{} {}; known plugins: {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ));
    }
    let mut chosen: Vec<(&PluginUnit, Vec<String>)> = Vec::new();
    for unit in units
        .iter()
        .filter(|u| u.phase == Phase::Update && only.contains(&u.plugin))
    {
        let after = bus.after(unit).await.map_err(|e| e.to_string())?;
        chosen.push((unit, after));
    }
    Ok(topological(chosen))
}

/// Names of `units` so that each comes after those of them in its `After=`
/// (units already in name order; ties keep it).
fn topological(mut units: Vec<(&PluginUnit, Vec<String>)>) -> Vec<String> {
    let mut order = Vec::with_capacity(units.len());
    while !units.is_empty() {
        let ready = units
            .iter()
            .position(|(_, after)| {
                !after
                    .iter()
                    .any(|a| units.iter().any(|(other, _)| &other.name == a))
            })
            // A cycle cannot load in systemd; take the first to be safe.
            .unwrap_or(0);
        order.push(units.remove(ready).0.name.clone());
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_units_follow_their_after() {
        let unit = |name: &str| PluginUnit {
            name: name.into(),
            path: zbus::OwnedObjectPath::try_from("/x").unwrap(),
            plugin: name.into(),
            phase: Phase::Update,
        };
        let (a, b, c) = (unit("a"), unit("b"), unit("c"));
        let order = topological(vec![
            (&a, vec!["c".into(), "sysinit.target".into()]),
            (&b, vec![]),
            (&c, vec!["b".into()]),
        ]);
        assert_eq!(order, ["b", "c", "a"]);
    }
}
