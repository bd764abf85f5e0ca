//! Ordering units on a graph: the one petgraph graph of "starts after"
//! edges, its deterministic topological order, and mutex holders taking
//! turns along it (docs/manifest.md, "How ordering is built").
//!
//! [`crate::plan`] builds the static ordering with these. [`extend`] adds
//! what the plan could not know on top of a fixed ordering, the same way:
//! the check's estimate units (whose mutexes no unit file carries) and a
//! run's dynamic mutexes. Requirements (a unit needs a mutex free, a
//! plugin runs after another) are added one by one, each refused if it
//! would close a cycle with what is there already; then the holders of
//! each mutex are chained in one topological order of the result, so
//! chaining never makes a cycle.

use crate::values::MutexName;
use petgraph::algo::has_path_connecting;
use petgraph::graphmap::DiGraphMap;
use petgraph::Direction;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;

/// Why one unit is ordered after another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "mutex", rename_all = "snake_case")]
pub enum Reason {
    /// The plugin's own download phase comes first.
    Download,
    RunsAfter,
    /// The later unit needs this mutex free; the earlier one holds it.
    Dependency(MutexName),
    /// Both hold this mutex, so they take turns.
    Mutex(MutexName),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Reason::Download => f.write_str("download phase"),
            Reason::RunsAfter => f.write_str("runs_after"),
            Reason::Dependency(m) => write!(f, "dependency {m}"),
            Reason::Mutex(m) => write!(f, "mutex {m}"),
        }
    }
}

/// Units by index; an edge (before, after) carries the reasons `after`
/// waits for `before`.
pub(crate) type Graph = DiGraphMap<usize, Vec<Reason>>;

/// Orders `to` after `from` for `why`, once per reason.
pub(crate) fn add_edge(g: &mut Graph, from: usize, to: usize, why: Reason) {
    match g.edge_weight_mut(from, to) {
        Some(reasons) if reasons.contains(&why) => {}
        Some(reasons) => reasons.push(why),
        None => {
            g.add_edge(from, to, vec![why]);
        }
    }
}

/// Nodes `0..n` of the acyclic `g` in Kahn's order, always taking the
/// smallest ready node: the order depends only on the graph.
pub(crate) fn topological_order(g: &Graph, n: usize) -> Vec<usize> {
    let mut indegree: Vec<usize> = (0..n)
        .map(|u| g.neighbors_directed(u, Direction::Incoming).count())
        .collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&u| indegree[u] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(u)) = ready.pop() {
        order.push(u);
        for v in g.neighbors(u) {
            indegree[v] -= 1;
            if indegree[v] == 0 {
                ready.push(Reverse(v));
            }
        }
    }
    debug_assert_eq!(order.len(), n, "cycles were removed before ordering");
    order
}

/// Each node's place in `order`.
pub(crate) fn positions(order: &[usize]) -> Vec<usize> {
    let mut position = vec![0; order.len()];
    for (at, &node) in order.iter().enumerate() {
        position[node] = at;
    }
    position
}

/// Puts the holders of one mutex in turn: by `position`, each node once
/// (with what was listed first for it). Each then waits for the one
/// before it, which never closes a cycle: the edges go forward.
pub(crate) fn take_turns<T>(holders: &mut Vec<(usize, T)>, position: &[usize]) {
    holders.sort_by_key(|(node, _)| position[*node]);
    holders.dedup_by_key(|(node, _)| *node);
}

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
/// plan's); `fixed` edges (before, after) are there already and acyclic.
/// `required` edges are added unless they close a cycle; then each
/// mutex's holders (node, who says it holds it) are chained.
pub fn extend(
    n: usize,
    fixed: &[(usize, usize)],
    required: Vec<Edge>,
    holders: &BTreeMap<MutexName, Vec<(usize, String)>>,
) -> Extension {
    let mut g = Graph::with_capacity(n, fixed.len() + required.len());
    for node in 0..n {
        g.add_node(node);
    }
    for &(before, after) in fixed {
        g.add_edge(before, after, Vec::new());
    }
    let mut ext = Extension::default();
    for edge in required {
        if edge.before == edge.after || g.contains_edge(edge.before, edge.after) {
            continue;
        }
        if has_path_connecting(&g, edge.after, edge.before, None) {
            ext.refused.push(edge);
        } else {
            add_edge(&mut g, edge.before, edge.after, edge.reason.clone());
            ext.added.push(edge);
        }
    }
    let order = topological_order(&g, n);
    let position = positions(&order);
    for (mutex, nodes) in holders {
        let mut nodes: Vec<(usize, &String)> = nodes.iter().map(|(n, o)| (*n, o)).collect();
        take_turns(&mut nodes, &position);
        for pair in nodes.windows(2) {
            let ((before, _), (after, origin)) = (pair[0], pair[1]);
            if !g.contains_edge(before, after) {
                let reason = Reason::Mutex(mutex.clone());
                add_edge(&mut g, before, after, reason.clone());
                ext.added.push(Edge {
                    before,
                    after,
                    reason,
                    origin: origin.clone(),
                });
            }
        }
    }
    ext.order = order;
    ext
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
    fn the_smallest_ready_node_comes_first() {
        let mut g = Graph::new();
        for node in 0..4 {
            g.add_node(node);
        }
        add_edge(&mut g, 3, 0, Reason::RunsAfter);
        add_edge(&mut g, 2, 1, Reason::Download);
        assert_eq!(topological_order(&g, 4), [2, 1, 3, 0]);
        assert_eq!(positions(&[2, 1, 3, 0]), [3, 1, 0, 2]);
    }

    #[test]
    fn an_edge_keeps_each_reason_once() {
        let mut g = Graph::new();
        add_edge(&mut g, 0, 1, Reason::RunsAfter);
        add_edge(&mut g, 0, 1, Reason::Mutex(mutex("m")));
        add_edge(&mut g, 0, 1, Reason::RunsAfter);
        assert_eq!(g[(0, 1)], [Reason::RunsAfter, Reason::Mutex(mutex("m"))]);
    }

    #[test]
    fn turns_follow_the_order_and_name_each_holder_once() {
        let mut holders = vec![(2, "c"), (0, "a"), (2, "c again"), (1, "b")];
        take_turns(&mut holders, &[1, 2, 0]);
        assert_eq!(holders, [(2, "c"), (0, "a"), (1, "b")]);
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
        assert_eq!(ext.added[1].reason, Reason::Mutex(mutex("runtime:python")));
        assert!(ext.refused.is_empty());
        assert_eq!(ext.order, [0, 1, 2]);
    }

    #[test]
    fn fixed_edges_decide_the_turns_and_are_not_repeated() {
        // 2 runs before 0 already: the mutex chain follows that.
        let holders = BTreeMap::from([(mutex("m"), vec![(0, "a".into()), (2, "c".into())])]);
        let ext = extend(3, &[(2, 0)], Vec::new(), &holders);
        assert!(ext.added.is_empty(), "{:?}", ext.added);
        assert_eq!(ext.order, [1, 2, 0]);
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
        assert_eq!(ext.order, [2, 0, 1]);
    }

    #[test]
    fn a_cycle_through_earlier_requirements_is_refused_too() {
        // 0 → 1 → 2 from two requirements; 2 before 0 would close it.
        let ext = extend(
            3,
            &[],
            vec![
                needs(0, 1),
                needs(1, 2),
                needs(2, 0),
                needs(0, 1),
                needs(1, 1),
            ],
            &BTreeMap::new(),
        );
        assert_eq!(pairs(&ext.added), [(0, 1), (1, 2)]);
        assert_eq!(pairs(&ext.refused), [(2, 0)]);
    }

    #[test]
    fn chains_follow_added_requirements() {
        // 2 must come before 0; both hold m: the chain is 2 → 0, no cycle.
        let holders = BTreeMap::from([(mutex("m"), vec![(0, "a".into()), (2, "c".into())])]);
        let ext = extend(3, &[], vec![needs(2, 0)], &holders);
        assert_eq!(pairs(&ext.added), [(2, 0)]);
        assert_eq!(ext.order, [1, 2, 0]);
    }

    #[test]
    fn chains_of_two_mutexes_add_each_edge_once() {
        let both = vec![(0, "a".to_owned()), (1, "b".to_owned())];
        let holders = BTreeMap::from([(mutex("m"), both.clone()), (mutex("n"), both)]);
        let ext = extend(2, &[], Vec::new(), &holders);
        assert_eq!(pairs(&ext.added), [(0, 1)]);
        assert_eq!(ext.added[0].reason, Reason::Mutex(mutex("m")));
    }
}
