//! The Hutong ledger: a pure, deterministic state machine.
//!
//! Given the state and a block of ordered, signed transactions, the runtime
//! computes one receipt per transaction and the state changes, and commits
//! the state in a Merkle tree ([`tree`]) whose root goes into the block
//! header. It performs no I/O, reads no clock, uses no randomness and starts
//! no threads: the same blocks give the same state root on every machine.
//!
//! - [`crypto`]: ed25519 keys and ZIP-215 signature checks, tagged hashing.
//! - [`types`]: protocol quantities and the `ht1…` address.
//! - [`tx`]: transactions, their canonical encoding and bounds.
//! - [`state`]: state keys and values: accounts, assets, balances, limits.
//! - [`execute`]: block execution and the ledger rules; the payment rules
//!   live in `transfer`, the write-back cache with its undo journal in
//!   `overlay`.
//! - [`clearing`]: settlement cycles' gross flows between institutions
//!   and net positions.
//! - [`hold`]: holds (two-phase payments), amount freezes, receive-only
//!   and send-only accounts, and their expiry.
//! - [`exchange`]: linked operations (all or none) and payment versus
//!   payment at an FX provider's signed quote.
//! - [`mandate`]: open-banking mandates (a third party pays from, or reads,
//!   an account within limits).
//! - [`receipt`]: receipts and failure reasons with stable codes.
//! - [`store`]: the state-store seam, the in-memory store, state roots and
//!   state proofs.
//! - [`merkle`], [`block`]: transactions and receipts roots with inclusion
//!   proofs.
//! - [`recovery`]: the members' signed statement that restarts a chain
//!   whose validators lost their quorum for good.
//! - [`tree`]: the state tree: a 16-ary Merkle radix tree over key
//!   hashes, versioned, with inclusion and exclusion proofs.
//! - [`snapshot`]: the state tree read in chunks, each with the proof of
//!   its last leaf, and restored chunk by chunk, each checked against the
//!   root.

#![forbid(unsafe_code)]

pub mod blacklist;
pub mod block;
pub mod clearing;
pub mod crypto;
pub mod exchange;
pub mod execute;
pub mod governance;
pub mod hold;
pub mod identity;
pub mod mandate;
pub mod merkle;
mod overlay;
mod proposals;
pub mod receipt;
pub mod recovery;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod transfer;
pub mod tree;
pub mod tx;
pub mod types;

pub use crypto::{Hash, Keypair, PublicKey, Signature};
pub use execute::{
    execute_block, execute_block_with, BlockContext, BlockOutcome, ExecError, Preverified,
    SignatureCheck,
};
pub use receipt::{Effect, FailureReason, Outcome, Receipt};
pub use state::{Account, AccountKind, AssetInfo, Params, StateKey, StateValue};
pub use store::{MemStore, StateStore, StateUpdate, StoreError};
pub use tx::{SignedTransaction, Transaction, TxKind};
pub use types::{
    Address, Amount, AssetCode, ChainId, Height, Nonce, Tier, TimestampMs, TransferId,
};
