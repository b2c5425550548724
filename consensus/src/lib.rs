//! Hutong's BFT consensus core: two-chain pipelined HotStuff (the Jolteon /
//! DiemBFT v4 family) as a pure state machine. It performs no I/O, reads no
//! clock and starts no threads; the node feeds it events and carries out
//! the actions it returns, in order.
//!
//! The protocol, in brief. Validators `n = 3f + 1`; a quorum is `n − f`.
//! Each round has one leader, who proposes a block extending the highest
//! quorum certificate (QC) it knows. Validators vote for it under the
//! safety rules ([`safety`]) and send the vote to the next round's leader,
//! who aggregates a quorum of votes into the block's QC and proposes the
//! next block with it: one proposal per round, pipelined. A block commits
//! when it and its child are certified in consecutive rounds
//! ([`types::VoteData::commits`]). A round without progress times out:
//! validators sign timeouts carrying their highest QC round, a quorum of
//! them forms a timeout certificate (TC), and the next leader proposes on
//! the TC.
//!
//! What is here so far:
//! - [`types`]: rounds, blocks, votes, timeouts, certificates, the commit
//!   rule.
//! - [`validators`]: an epoch's validator set and certificate checks.
//! - [`safety`]: the voting and timeout rules, with the safety argument.
//!
//! The round state machine (pacemaker, leader reputation, block tree,
//! sync, epochs, equivocation evidence) and its deterministic simulation
//! are the rest of the consensus work.

#![forbid(unsafe_code)]

pub mod core;
pub mod messages;
pub mod safety;
pub mod types;
pub mod validators;
