//! Cross-crate tests of Hutong live in `tests/tests/`: the ledger driven
//! from a generated genesis through the node's signature pipeline. The
//! deterministic consensus simulation and multi-process clusters will join
//! them.
