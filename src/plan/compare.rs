//! Which nodes of two plans of one query correspond, so that their figures
//! can be set side by side (`planguard diff`, the HTML report) and the
//! baseline rules compare like with like.
//!
//! When both trees have the same structure (at every position the same
//! node type, relation and alias, and as many children), nodes correspond
//! by position. Otherwise positions mean nothing; what still corresponds:
//!
//! - the two roots (the whole query), unless one of them reads a relation
//!   the other does not;
//! - the nodes that read the same relation under the same alias (an Index
//!   Scan on `orders o` that became a Seq Scan on `orders o`), in EXPLAIN's
//!   depth-first order when a relation is read more than once under one
//!   alias (a self join without aliases, a UNION of the same table).
//!
//! A node with no counterpart is left out.

use super::model::{Node, Plan, node_path};

/// How the pairs were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// The trees have the same structure: every node is paired by its
    /// position.
    Position,
    /// The structures differ: the roots and the relation-reading nodes are
    /// paired.
    Relation,
}

/// One node of one plan with its child indexes from the root.
#[derive(Debug, Clone)]
pub struct Located<'a> {
    /// Child indexes from the root (empty for the root).
    pub index: Vec<usize>,
    pub node: &'a Node,
}

impl Located<'_> {
    /// The node's path: `0`, `0.1.0`.
    pub fn path(&self) -> String {
        node_path(&self.index)
    }
}

/// Two corresponding nodes.
#[derive(Debug, Clone)]
pub struct Pair<'a> {
    /// The node in the old (baseline) plan.
    pub old: Located<'a>,
    /// The node in the new (current) plan.
    pub new: Located<'a>,
}

/// How two plans' nodes were matched.
#[derive(Debug, Clone)]
pub struct Matching<'a> {
    pub by: MatchedBy,
    /// The pairs, in the new plan's depth-first order.
    pub pairs: Vec<Pair<'a>>,
}

impl Matching<'_> {
    /// The old node paired with the new node at `new_index`.
    pub fn old_of(&self, new_index: &[usize]) -> Option<&Located<'_>> {
        self.pairs
            .iter()
            .find(|p| p.new.index == new_index)
            .map(|p| &p.old)
    }
}

/// Matches the nodes of two plans of one query (see the module docs).
pub fn match_nodes<'a>(old: &'a Plan, new: &'a Plan) -> Matching<'a> {
    let old_nodes = flatten(&old.root);
    let new_nodes = flatten(&new.root);
    if same_structure(&old.root, &new.root) {
        let pairs = old_nodes
            .into_iter()
            .zip(new_nodes)
            .map(|(old, new)| Pair { old, new })
            .collect();
        return Matching {
            by: MatchedBy::Position,
            pairs,
        };
    }
    let mut pairs = Vec::new();
    let roots_pair = match (relation_of(&old.root), relation_of(&new.root)) {
        (None, None) => true,
        (a, b) => a == b,
    };
    let mut old_left: Vec<Option<Located>> = old_nodes
        .into_iter()
        .filter(|l| relation_of(l.node).is_some() && !(roots_pair && l.index.is_empty()))
        .map(Some)
        .collect();
    for new in new_nodes {
        if new.index.is_empty() && roots_pair {
            pairs.push(Pair {
                old: Located {
                    index: Vec::new(),
                    node: &old.root,
                },
                new,
            });
            continue;
        }
        let Some(key) = relation_of(new.node) else {
            continue;
        };
        let partner = old_left.iter_mut().find(|slot| {
            slot.as_ref()
                .is_some_and(|o| relation_of(o.node) == Some(key))
        });
        if let Some(old) = partner.and_then(Option::take) {
            pairs.push(Pair { old, new });
        }
    }
    Matching {
        by: MatchedBy::Relation,
        pairs,
    }
}

/// Same node type, relation and alias here, and the same structure below.
pub fn same_structure(a: &Node, b: &Node) -> bool {
    a.node_type == b.node_type
        && relation_of(a) == relation_of(b)
        && a.plans.len() == b.plans.len()
        && a.plans
            .iter()
            .zip(&b.plans)
            .all(|(x, y)| same_structure(x, y))
}

fn flatten(root: &Node) -> Vec<Located<'_>> {
    let mut nodes = Vec::new();
    root.walk(&mut |index, node| {
        nodes.push(Located {
            index: index.to_vec(),
            node,
        });
    });
    nodes
}

/// The relation and alias a node reads.
fn relation_of(node: &Node) -> Option<(&str, Option<&str>)> {
    Some((node.relation_name.as_deref()?, node.alias.as_deref()))
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

    fn join(kind: NodeType, plans: Vec<Node>) -> Node {
        Node {
            node_type: kind,
            plans,
            ..Node::default()
        }
    }

    fn plan(root: Node) -> Plan {
        Plan {
            root,
            ..Plan::default()
        }
    }

    fn paths(m: &Matching) -> Vec<(String, String)> {
        m.pairs
            .iter()
            .map(|p| (p.old.path(), p.new.path()))
            .collect()
    }

    #[test]
    fn the_same_structure_pairs_every_node_by_position() {
        let tree = |cost| Node {
            total_cost: Some(cost),
            ..join(
                NodeType::HashJoin,
                vec![
                    scan(NodeType::SeqScan, "orders", "o"),
                    join(
                        NodeType::Hash,
                        vec![scan(NodeType::SeqScan, "customers", "c")],
                    ),
                ],
            )
        };
        let (old, mut new) = (plan(tree(1.0)), plan(tree(2.0)));
        // A changed condition is not a changed structure.
        new.root.plans[0].conditions.filter = Some("(id = 2)".into());
        let m = match_nodes(&old, &new);
        assert_eq!(m.by, MatchedBy::Position);
        assert_eq!(
            paths(&m),
            [
                ("0".into(), "0".into()),
                ("0.0".into(), "0.0".into()),
                ("0.1".into(), "0.1".into()),
                ("0.1.0".into(), "0.1.0".into())
            ]
        );
    }

    #[test]
    fn a_changed_structure_pairs_the_roots_and_the_relations() {
        let old = plan(join(
            NodeType::NestedLoop,
            vec![
                scan(NodeType::SeqScan, "customers", "c"),
                scan(NodeType::IndexScan, "orders", "o"),
            ],
        ));
        let new = plan(join(
            NodeType::HashJoin,
            vec![
                scan(NodeType::SeqScan, "orders", "o"),
                join(
                    NodeType::Hash,
                    vec![scan(NodeType::SeqScan, "customers", "c")],
                ),
            ],
        ));
        let m = match_nodes(&old, &new);
        assert_eq!(m.by, MatchedBy::Relation);
        assert_eq!(
            paths(&m),
            [
                ("0".into(), "0".into()),
                ("0.1".into(), "0.0".into()),
                ("0.0".into(), "0.1.0".into())
            ]
        );
        assert_eq!(m.old_of(&[0]).unwrap().node.node_type, NodeType::IndexScan);
        assert!(m.old_of(&[1]).is_none(), "the Hash reads no relation");
    }

    #[test]
    fn a_relation_read_twice_pairs_by_alias_then_in_order() {
        let old = plan(join(
            NodeType::NestedLoop,
            vec![
                scan(NodeType::IndexScan, "t", "a"),
                scan(NodeType::IndexScan, "t", "b"),
                scan(NodeType::SeqScan, "items", "i"),
                scan(NodeType::SeqScan, "items", "i"),
            ],
        ));
        let new = plan(join(
            NodeType::HashJoin,
            vec![
                scan(NodeType::SeqScan, "t", "b"),
                join(NodeType::Hash, vec![scan(NodeType::SeqScan, "t", "a")]),
                scan(NodeType::SeqScan, "items", "i"),
                scan(NodeType::IndexScan, "items", "i"),
            ],
        ));
        let m = match_nodes(&old, &new);
        assert_eq!(
            paths(&m),
            [
                ("0".into(), "0".into()),
                ("0.1".into(), "0.0".into()),
                ("0.0".into(), "0.1.0".into()),
                ("0.2".into(), "0.2".into()),
                ("0.3".into(), "0.3".into())
            ]
        );
    }

    #[test]
    fn roots_reading_different_relations_are_not_paired() {
        let old = plan(scan(NodeType::SeqScan, "t", "t"));
        let new = plan(join(NodeType::Result, vec![]));
        assert!(match_nodes(&old, &new).pairs.is_empty());
        let new = plan(join(
            NodeType::HashJoin,
            vec![
                scan(NodeType::SeqScan, "u", "u"),
                join(NodeType::Hash, vec![scan(NodeType::SeqScan, "t", "t")]),
            ],
        ));
        let m = match_nodes(&old, &new);
        assert_eq!(paths(&m), [("0".into(), "0.1.0".into())]);
    }
}
