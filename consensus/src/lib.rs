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
//! Leaders rotate round-robin, except that validators whose latest turn
//! left no block on the chain, and which have not been seen alive on it
//! since, are skipped, at most f of them
//! ([`core::Consensus::leader_after`]); the rule reads only the chain a
//! proposal extends, so honest validators agree.
//!
//! - [`types`]: rounds, blocks, votes, timeouts, certificates, the commit
//!   rule.
//! - [`validators`]: an epoch's validator set and certificate checks.
//! - [`safety`]: the voting, timeout and proposing rules (V1, V2, T1, P1),
//!   with the safety argument.
//! - [`messages`]: what validators send, events in and actions out.
//! - [`core`]: the round state machine (pacemaker with exponential
//!   back-off, vote and timeout aggregation, commits, block fetch,
//!   equivocation evidence, bounded state).
//!
//! Epochs: the host ends an epoch when it executes the committed block that
//! decides it, and hands the core the next validator set
//! ([`messages::Event::NewEpoch`]); old-epoch messages are refused from then
//! on, and a message from a later epoch asks the host to sync
//! ([`messages::Action::EpochAhead`]).
//!
//! Catch-up: a validator that misses a few ancestors fetches them block by
//! block; one more than a few blocks behind asks for committed blocks in
//! bulk with the certificate that commits the last one, and checks them by
//! hash chain from its own committed block
//! ([`messages::Action::SyncRequest`]).

#![forbid(unsafe_code)]

pub mod core;
pub mod messages;
pub mod safety;
pub mod types;
pub mod validators;
