//! Which nodes of two plans of one query correspond, so that their figures
//! can be set side by side (`planguard diff`, baseline comparisons).
//!
//! When the two shapes are equal, nodes correspond by position. When the
//! shape changed, positions mean nothing; what still corresponds is a read
//! of the same relation under the same alias (an Index Scan on `orders o`
//! that became a Seq Scan on `orders o`), when that pair is unique on both
//! sides, and the two roots (the whole query).

use std::collections::BTreeMap;

use super::model::{Node, Plan, node_path};
use super::shape::shape;

/// Two corresponding nodes.
#[derive(Debug, Clone, Copy)]
pub struct NodePair<'a> {
    /// The node in the old plan.
    pub old: &'a Node,
    /// The node in the new plan.
    pub new: &'a Node,
}

/// How two plans' nodes were matched.
#[derive(Debug, Clone)]
pub struct Matching<'a> {
    /// Whether the two plans have the same shape.
    pub same_shape: bool,
    /// The pairs, in the new plan's order, each with the path of its old
    /// and new node (`0.1.0`).
    pub pairs: Vec<(String, String, NodePair<'a>)>,
}

/// Matches the nodes of two plans of one query (see the module docs).
pub fn match_nodes<'a>(old: &'a Plan, new: &'a Plan) -> Matching<'a> {
    let old_nodes = flatten(&old.root);
    let new_nodes = flatten(&new.root);
    let same_shape = shape(old) == shape(new);
    let pairs = if same_shape {
        old_nodes
            .into_iter()
            .zip(new_nodes)
            .map(|((old_path, old), (new_path, new))| (old_path, new_path, NodePair { old, new }))
            .collect()
    } else {
        let old_by_relation = unique_by_relation(&old_nodes);
        let new_by_relation = unique_by_relation(&new_nodes);
        let mut pairs = Vec::new();
        for (new_path, new) in &new_nodes {
            let old = if new_path == "0" {
                Some(&old_nodes[0])
            } else {
                relation_key(new)
                    .filter(|key| new_by_relation.get(key) == Some(&Some(new_path.as_str())))
                    .and_then(|key| old_by_relation.get(&key).copied().flatten())
                    .and_then(|path| old_nodes.iter().find(|(p, _)| p == path))
            };
            if let Some((old_path, old)) = old {
                pairs.push((old_path.clone(), new_path.clone(), NodePair { old, new }));
            }
        }
        pairs
    };
    Matching { same_shape, pairs }
}

fn flatten(root: &Node) -> Vec<(String, &Node)> {
    let mut nodes = Vec::new();
    root.walk(&mut |index, node| nodes.push((node_path(index), node)));
    nodes
}

/// The relation (schema-qualified when known) and alias a node reads.
fn relation_key(node: &Node) -> Option<(Option<&str>, &str, Option<&str>)> {
    let relation = node.relation_name.as_deref()?;
    Some((node.schema.as_deref(), relation, node.alias.as_deref()))
}

/// Relation and alias to the path of the one node reading them, or None
/// when several nodes do (the root excluded: it is always paired).
#[allow(clippy::type_complexity)]
fn unique_by_relation<'a>(
    nodes: &'a [(String, &'a Node)],
) -> BTreeMap<(Option<&'a str>, &'a str, Option<&'a str>), Option<&'a str>> {
    let mut by_relation = BTreeMap::new();
    for (path, node) in nodes.iter().skip(1) {
        if let Some(key) = relation_key(node) {
            by_relation
                .entry(key)
                .and_modify(|seen: &mut Option<&str>| *seen = None)
                .or_insert(Some(path.as_str()));
        }
    }
    by_relation
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::NodeType;

    fn scan(kind: NodeType, relation: &str, alias: &str) -> Node {
        Node {
            node_type: kind,
            relation_name: Some(relation.into()),
            alias: Some(alias.into()),
            ..Node::default()
        }
    }

    fn plan(root: Node) -> Plan {
        Plan {
            root,
            ..Plan::default()
        }
    }

    #[test]
    fn same_shape_pairs_every_node_by_position() {
        let join = |cost| Node {
            node_type: NodeType::HashJoin,
            total_cost: Some(cost),
            plans: vec![
                scan(NodeType::SeqScan, "a", "a"),
                scan(NodeType::SeqScan, "b", "b"),
            ],
            ..Node::default()
        };
        let (old, new) = (plan(join(1.0)), plan(join(2.0)));
        let m = match_nodes(&old, &new);
        assert!(m.same_shape);
        let paths: Vec<_> = m
            .pairs
            .iter()
            .map(|(o, n, _)| (o.as_str(), n.as_str()))
            .collect();
        assert_eq!(paths, [("0", "0"), ("0.0", "0.0"), ("0.1", "0.1")]);
    }

    #[test]
    fn a_changed_shape_pairs_the_roots_and_unique_relations() {
        let old = plan(Node {
            node_type: NodeType::NestedLoop,
            plans: vec![
                scan(NodeType::IndexScan, "orders", "o"),
                scan(NodeType::SeqScan, "items", "i"),
                scan(NodeType::SeqScan, "items", "i"),
            ],
            ..Node::default()
        });
        let new = plan(Node {
            node_type: NodeType::HashJoin,
            plans: vec![
                scan(NodeType::SeqScan, "items", "i"),
                Node {
                    node_type: NodeType::Hash,
                    plans: vec![scan(NodeType::SeqScan, "orders", "o")],
                    ..Node::default()
                },
            ],
            ..Node::default()
        });
        let m = match_nodes(&old, &new);
        assert!(!m.same_shape);
        let paths: Vec<_> = m
            .pairs
            .iter()
            .map(|(o, n, _)| (o.as_str(), n.as_str()))
            .collect();
        // `items i` is read twice in the old plan: no pair for it.
        assert_eq!(paths, [("0", "0"), ("0.0", "0.1.0")]);
    }
}
