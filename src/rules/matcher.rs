//! Matching the nodes of a baseline plan with those of the current plan, so
//! that baseline rules compare like with like.
//!
//! When both trees have the same shape (at every position the same node
//! type, relation and alias, and as many children), nodes are paired by
//! path. Otherwise only nodes that read a relation can be paired: by
//! relation name and alias, in EXPLAIN's depth-first order when a relation
//! is read more than once under the same alias (a self join without
//! aliases, a UNION of the same table). A node with no partner is left out.

use crate::plan::{Node, Plan};

use super::context::nodes;

/// How the pairs were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// The trees have the same shape: every node is paired by its path.
    Path,
    /// The shapes differ: relation-reading nodes are paired by relation and
    /// alias.
    Relation,
}

/// One node of one plan, with its child-index path.
#[derive(Debug, Clone)]
pub struct Located<'a> {
    /// Child indexes from the root (empty for the root).
    pub index: Vec<usize>,
    /// The node.
    pub node: &'a Node,
}

/// A baseline node and the current node it corresponds to.
#[derive(Debug, Clone)]
pub struct Pair<'a> {
    pub baseline: Located<'a>,
    pub current: Located<'a>,
}

/// The pairs between two plans.
#[derive(Debug, Clone)]
pub struct Matching<'a> {
    /// How the pairs were made.
    pub by: MatchedBy,
    /// The pairs, in the current plan's depth-first order.
    pub pairs: Vec<Pair<'a>>,
}

impl Matching<'_> {
    /// The baseline node paired with the current node at `index`.
    pub fn baseline_of(&self, current_index: &[usize]) -> Option<&Located<'_>> {
        self.pairs
            .iter()
            .find(|p| p.current.index == current_index)
            .map(|p| &p.baseline)
    }
}

/// Pairs the nodes of `baseline` with those of `current`.
pub fn match_plans<'a>(baseline: &'a Plan, current: &'a Plan) -> Matching<'a> {
    let old = nodes(&baseline.root);
    let new = nodes(&current.root);
    if same_shape(&baseline.root, &current.root) {
        let pairs = old
            .into_iter()
            .zip(new)
            .map(|((bi, bn), (ci, cn))| Pair {
                baseline: Located {
                    index: bi,
                    node: bn,
                },
                current: Located {
                    index: ci,
                    node: cn,
                },
            })
            .collect();
        return Matching {
            by: MatchedBy::Path,
            pairs,
        };
    }
    let mut unpaired: Vec<Option<(Vec<usize>, &Node)>> = old
        .into_iter()
        .filter(|(_, n)| n.relation_name.is_some())
        .map(Some)
        .collect();
    let mut pairs = Vec::new();
    for (ci, cn) in new.into_iter().filter(|(_, n)| n.relation_name.is_some()) {
        let partner = unpaired
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|(_, bn)| same_relation(bn, cn)));
        if let Some((bi, bn)) = partner.and_then(Option::take) {
            pairs.push(Pair {
                baseline: Located {
                    index: bi,
                    node: bn,
                },
                current: Located {
                    index: ci,
                    node: cn,
                },
            });
        }
    }
    Matching {
        by: MatchedBy::Relation,
        pairs,
    }
}

/// Same node type, relation and alias here, and the same shape below.
pub fn same_shape(a: &Node, b: &Node) -> bool {
    a.node_type == b.node_type
        && a.relation_name == b.relation_name
        && a.alias == b.alias
        && a.plans.len() == b.plans.len()
        && a.plans.iter().zip(&b.plans).all(|(x, y)| same_shape(x, y))
}

fn same_relation(a: &Node, b: &Node) -> bool {
    a.relation_name == b.relation_name && a.alias == b.alias
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::NodeType;

    fn scan(t: NodeType, rel: &str, alias: &str) -> Node {
        Node {
            node_type: t,
            relation_name: Some(rel.into()),
            alias: Some(alias.into()),
            ..Node::default()
        }
    }

    fn join(t: NodeType, children: Vec<Node>) -> Node {
        Node {
            node_type: t,
            plans: children,
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
        use super::super::context::path_string;
        m.pairs
            .iter()
            .map(|p| {
                (
                    path_string(&p.baseline.index),
                    path_string(&p.current.index),
                )
            })
            .collect()
    }

    #[test]
    fn same_shape_pairs_every_node_by_path() {
        let a = plan(join(
            NodeType::HashJoin,
            vec![
                scan(NodeType::SeqScan, "orders", "o"),
                join(
                    NodeType::Hash,
                    vec![scan(NodeType::SeqScan, "customers", "c")],
                ),
            ],
        ));
        let b = a.clone();
        let m = match_plans(&a, &b);
        assert_eq!(m.by, MatchedBy::Path);
        assert_eq!(m.pairs.len(), 4);
        assert_eq!(paths(&m)[3], ("0.1.0".into(), "0.1.0".into()));
    }

    #[test]
    fn different_shapes_pair_scans_by_relation_and_alias() {
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
        let m = match_plans(&old, &new);
        assert_eq!(m.by, MatchedBy::Relation);
        assert_eq!(
            paths(&m),
            [("0.1".into(), "0.0".into()), ("0.0".into(), "0.1.0".into())]
        );
        assert_eq!(
            m.baseline_of(&[0]).unwrap().node.node_type,
            NodeType::IndexScan
        );
        assert!(m.baseline_of(&[1]).is_none(), "the Hash reads no relation");
    }

    #[test]
    fn self_joins_pair_by_alias_then_in_order() {
        let old = plan(join(
            NodeType::NestedLoop,
            vec![
                scan(NodeType::IndexScan, "t", "a"),
                scan(NodeType::IndexScan, "t", "b"),
            ],
        ));
        let new = plan(join(
            NodeType::HashJoin,
            vec![
                scan(NodeType::SeqScan, "t", "b"),
                join(NodeType::Hash, vec![scan(NodeType::SeqScan, "t", "a")]),
            ],
        ));
        let m = match_plans(&old, &new);
        assert_eq!(
            paths(&m),
            [("0.1".into(), "0.0".into()), ("0.0".into(), "0.1.0".into())]
        );
    }

    #[test]
    fn a_relation_gone_from_the_plan_has_no_partner() {
        let old = plan(scan(NodeType::SeqScan, "t", "t"));
        let new = plan(join(NodeType::Result, vec![]));
        let m = match_plans(&old, &new);
        assert!(m.pairs.is_empty());
    }
}
