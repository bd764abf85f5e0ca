//! Extra ordering on top of a fixed one, the way the generator orders
//! units, for what it could not know: the check's estimate units (whose
//! mutexes no unit file carries) and a run's dynamic mutexes.
//!
//! Requirements (a unit needs a mutex free, a plugin runs after another)
//! are added one by one, each refused if it would close a cycle with what
//! is there already. Then the holders of each mutex are chained in one
//! topological order of the result, so chaining never makes a cycle.

use std::collections::{BTreeMap, BTreeSet};
use update_all_core::plan::Reason;
use update_all_core::values::MutexName;

/// `after` starts only once `before` is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub before: usize,
    pub after: usize,
    pub reason: Reason,
    /// Who asked for it, for messages: "pipx update-dependency".
    pub origin: String,
}

/// What [`extend`] made of the requests.
#[derive(Debug, Default)]
pub struct Extension {
    /// New edges, not among the fixed ones.
    pub added: Vec<Edge>,
    /// Requirements that would have closed a cycle.
    pub refused: Vec<Edge>,
    /// Every node, in a topological order of the result (the preferred
    /// order where nothing else decides): the order to start them in.
    pub order: Vec<usize>,
}

/// Nodes `0..n`, in the order to prefer where nothing else decides (the
/// plan's); `fixed` edges (before, after) are there already. `required`
/// edges are added unless they close a cycle; then each mutex's holders
/// (node, who says it holds it) are chained.
pub fn extend(
    n: usize,
    fixed: &[(usize, usize)],
    required: Vec<Edge>,
    holders: &BTreeMap<MutexName, Vec<(usize, String)>>,
) -> Extension {
    let mut graph: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for &(before, after) in fixed {
        graph[before].insert(after);
    }
    let mut ext = Extension::default();
    for edge in required {
        if edge.before == edge.after || graph[edge.before].contains(&edge.after) {
            continue;
        }
        if reaches(&graph, edge.after, edge.before) {
            ext.refused.push(edge);
        } else {
            graph[edge.before].insert(edge.after);
            ext.added.push(edge);
        }
    }
    let position = positions(&graph);
    for (mutex, nodes) in holders {
        let mut nodes: Vec<&(usize, String)> = nodes.iter().collect();
        nodes.sort_by_key(|(node, _)| position[*node]);
        nodes.dedup_by_key(|(node, _)| *node);
        for pair in nodes.windows(2) {
            let ((before, _), (after, origin)) = (pair[0], pair[1]);
            if graph[*before].insert(*after) {
                ext.added.push(Edge {
                    before: *before,
                    after: *after,
                    reason: Reason::Mutex(mutex.clone()),
                    origin: origin.clone(),
                });
            }
        }
    }
    ext.order = (0..n).collect();
    ext.order.sort_by_key(|&node| position[node]);
    ext
}

/// Whether a path leads from `from` to `to`.
fn reaches(graph: &[BTreeSet<usize>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; graph.len()];
    let mut stack = vec![from];
    while let Some(node) = stack.pop() {
        if node == to {
            return true;
        }
        if !std::mem::replace(&mut seen[node], true) {
            stack.extend(&graph[node]);
        }
    }
    false
}

/// Each node's place in a topological order that takes the smallest ready
/// node first (the graph has no cycle: [`extend`] keeps it so).
fn positions(graph: &[BTreeSet<usize>]) -> Vec<usize> {
    let mut indegree = vec![0; graph.len()];
    for next in graph.iter().flatten() {
        indegree[*next] += 1;
    }
    let mut ready: BTreeSet<usize> = (0..graph.len()).filter(|&u| indegree[u] == 0).collect();
    let mut position = vec![usize::MAX; graph.len()];
    let mut at = 0;
    while let Some(node) = ready.pop_first() {
        position[node] = at;
        at += 1;
        for &next in &graph[node] {
            indegree[next] -= 1;
            if indegree[next] == 0 {
                ready.insert(next);
            }
        }
    }
    position
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutex(name: &str) -> MutexName {
        MutexName::try_from(name).unwrap()
    }

    fn needs(before: usize, after: usize) -> Edge {
        Edge {
            before,
            after,
            reason: Reason::Dependency(mutex("m")),
            origin: format!("{after} needs m"),
        }
    }

    fn pairs(edges: &[Edge]) -> Vec<(usize, usize)> {
        edges.iter().map(|e| (e.before, e.after)).collect()
    }

    #[test]
    fn holders_take_turns_in_the_preferred_order() {
        let holders = BTreeMap::from([(
            mutex("runtime:python"),
            vec![
                (2, "c".to_owned()),
                (0, "a".to_owned()),
                (1, "b".to_owned()),
            ],
        )]);
        let ext = extend(3, &[], Vec::new(), &holders);
        assert_eq!(pairs(&ext.added), [(0, 1), (1, 2)]);
        assert_eq!(ext.added[1].origin, "c");
        assert!(ext.refused.is_empty());
        assert_eq!(ext.order, [0, 1, 2]);
    }

    #[test]
    fn fixed_edges_decide_the_turns_and_are_not_repeated() {
        // 2 runs before 0 already: the mutex chain follows that.
        let holders = BTreeMap::from([(mutex("m"), vec![(0, "a".into()), (2, "c".into())])]);
        let ext = extend(3, &[(2, 0)], Vec::new(), &holders);
        assert!(ext.added.is_empty(), "{:?}", ext.added);
    }

    #[test]
    fn requirements_that_close_a_cycle_are_refused() {
        // 0 → 1 fixed; 1 before 0 would be a cycle, 2 before 0 is fine.
        let ext = extend(
            3,
            &[(0, 1)],
            vec![needs(1, 0), needs(2, 0)],
            &BTreeMap::new(),
        );
        assert_eq!(pairs(&ext.refused), [(1, 0)]);
        assert_eq!(pairs(&ext.added), [(2, 0)]);
    }

    #[test]
    fn chains_follow_added_requirements() {
        // 2 must come before 0; both hold m: the chain is 2 → 0, no cycle.
        let holders = BTreeMap::from([(mutex("m"), vec![(0, "a".into()), (2, "c".into())])]);
        let ext = extend(3, &[], vec![needs(2, 0)], &holders);
        assert_eq!(pairs(&ext.added), [(2, 0)]);
        assert_eq!(ext.order, [1, 2, 0]);
    }
}
