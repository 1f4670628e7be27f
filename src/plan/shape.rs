//! The normalized plan shape (DESIGN.md, snapshot format) and its fingerprint.

use super::Plan;

/// Lowercase hex SHA-256 of the plan's normalized shape.
pub fn fingerprint(_plan: &Plan) -> String {
    String::new()
}

/// The normalized plan shape, one node a line.
pub fn shape(_plan: &Plan) -> String {
    String::new()
}
