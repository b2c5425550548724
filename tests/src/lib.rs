//! Cross-crate tests of Hutong (in `tests/tests/`), and the deterministic
//! simulator of a consensus cluster ([`sim`]) they drive.

pub mod sim;
