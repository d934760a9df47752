//! The guided scenario library: one scenario per idea, with narration, kept as JSON files
//! in `core/scenarios/` (the format authors copy) and compiled in.

use super::scenario::Scenario;

/// (name, JSON) of every library scenario, in teaching order.
pub const LIBRARY: &[(&str, &str)] = &[
    (
        "log-is-the-truth",
        include_str!("../../scenarios/log-is-the-truth.json"),
    ),
    (
        "group-commit",
        include_str!("../../scenarios/group-commit.json"),
    ),
    (
        "torn-write",
        include_str!("../../scenarios/torn-write.json"),
    ),
    (
        "checkpoint-redo-undo",
        include_str!("../../scenarios/checkpoint-redo-undo.json"),
    ),
    (
        "lsm-flush-compaction",
        include_str!("../../scenarios/lsm-flush-compaction.json"),
    ),
];

/// The library scenario called `name`.
pub fn scenario(name: &str) -> Option<Scenario> {
    LIBRARY.iter().find(|(n, _)| *n == name).map(|(_, json)| {
        Scenario::from_json(json).expect("library scenarios parse (a test checks)")
    })
}

/// The names, in teaching order.
pub fn names() -> impl Iterator<Item = &'static str> {
    LIBRARY.iter().map(|(n, _)| *n)
}
