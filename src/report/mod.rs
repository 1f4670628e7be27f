//! Stage `report`: renderers. Each one writes something the earlier stages
//! computed and does no analysis of its own.

pub mod tree;
