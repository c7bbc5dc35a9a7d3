//! Checks on a flow's graph: which nodes the entry reaches, and loops
//! that never wait for the caller. Iterative (no recursion), so a long
//! flow cannot overflow the stack.

use std::collections::VecDeque;

use crate::flow::model::{Node, NodeIndex};

/// Whether each node can be reached from `entry`.
pub(crate) fn reachable(nodes: &[Node], entry: NodeIndex) -> Vec<bool> {
    let mut seen = vec![false; nodes.len()];
    let mut todo = vec![entry];
    while let Some(index) = todo.pop() {
        let Some(node) = nodes.get(index) else {
            continue;
        };
        if std::mem::replace(&mut seen[index], true) {
            continue;
        }
        todo.extend(node.kind.targets());
    }
    seen
}

/// Loops made only of nodes that do not wait for the caller, one per
/// strongly connected group of such nodes: each as a path from its
/// first node (in file order) back to it.
pub(crate) fn loops_without_input(nodes: &[Node]) -> Vec<Vec<NodeIndex>> {
    let count = nodes.len();
    let instant = |index: NodeIndex| nodes.get(index).is_some_and(|n| !n.kind.waits_for_caller());
    let successors: Vec<Vec<NodeIndex>> = nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            if !instant(index) {
                return Vec::new();
            }
            let mut targets = node.kind.targets();
            targets.retain(|&target| instant(target));
            targets.sort_unstable();
            targets.dedup();
            targets
        })
        .collect();

    // Tarjan's strongly connected components, with an explicit stack.
    let mut order: Vec<Option<usize>> = vec![None; count];
    let mut low = vec![0; count];
    let mut on_stack = vec![false; count];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut groups = Vec::new();
    for root in 0..count {
        if order[root].is_some() || !instant(root) {
            continue;
        }
        let mut calls: Vec<(NodeIndex, usize)> = Vec::new();
        order[root] = Some(next);
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        calls.push((root, 0));
        while let Some(frame) = calls.last_mut() {
            let node = frame.0;
            if let Some(&target) = successors[node].get(frame.1) {
                frame.1 += 1;
                match order[target] {
                    None => {
                        order[target] = Some(next);
                        low[target] = next;
                        next += 1;
                        stack.push(target);
                        on_stack[target] = true;
                        calls.push((target, 0));
                    }
                    Some(seen) if on_stack[target] => low[node] = low[node].min(seen),
                    Some(_) => {}
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if order[node] == Some(low[node]) {
                let mut group = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    group.push(member);
                    if member == node {
                        break;
                    }
                }
                if group.len() > 1 || successors[node].contains(&node) {
                    groups.push(group);
                }
            }
        }
    }
    let mut loops: Vec<Vec<NodeIndex>> = groups
        .into_iter()
        .map(|group| cycle_in(&successors, &group))
        .collect();
    loops.sort();
    loops
}

/// A shortest path from the group's first node back to it, within the
/// group (which is strongly connected).
fn cycle_in(successors: &[Vec<NodeIndex>], group: &[NodeIndex]) -> Vec<NodeIndex> {
    let start = group.iter().copied().min().unwrap_or_default();
    let mut parent: Vec<Option<NodeIndex>> = vec![None; successors.len()];
    let mut todo = VecDeque::from([start]);
    while let Some(node) = todo.pop_front() {
        for &target in &successors[node] {
            if !group.contains(&target) {
                continue;
            }
            if target == start {
                let mut back = Vec::new();
                let mut at = node;
                while at != start {
                    back.push(at);
                    at = parent[at].unwrap_or(start);
                }
                let mut path = vec![start];
                path.extend(back.into_iter().rev());
                path.push(start);
                return path;
            }
            if parent[target].is_none() && target != start {
                parent[target] = Some(node);
                todo.push_back(target);
            }
        }
    }
    vec![start, start]
}
