//! What the ledger stores: the state keys and their values.
//!
//! Every entry is committed in the state Merkle tree under
//! `SHA-256(borsh(StateKey))` with `borsh(StateValue)` as its value, so any
//! entry can be proven against a state root.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::{Hash, PublicKey};
use crate::governance::{Consortium, Proposal, ProposalIndex};
use crate::tx::FreezeReason;
use crate::types::{Address, Amount, AssetCode, Nonce, Tier, TimestampMs, TransferId};

pub use crate::hold::{AccountState, AmountFreeze, Expiring, ExpiryCursor, HoldState, Restriction};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub enum StateKey {
    /// Chain-wide parameters (risk tiers, time zone).
    Params,
    Account(Address),
    Asset(AssetCode),
    /// An account's holding of an asset: its balance and its daily outflow.
    Balance(Address, AssetCode),
    /// A successful transfer's idempotency record, by sender and transfer
    /// id: an index kept in the state but not a leaf of the state tree.
    /// The tree holds the same records as one [`StateKey::TransferBlock`]
    /// leaf per block, from which the index can be rebuilt (a node
    /// restored from a snapshot does so). Kept for
    /// [`crate::transfer::TRANSFER_ID_RETENTION_MS`] (see
    /// [`crate::transfer`]).
    TransferRecord(Address, TransferId),
    /// Which blocks' transfer records are still remembered: every
    /// [`StateKey::TransferBlock`] below [`TransferWindow::oldest`] has
    /// been pruned.
    TransferWindow,
    /// The consortium: members, regulators, voting rules, consensus
    /// timing, epoch (see [`crate::governance`]).
    Consortium,
    /// The proposal register: next id, open proposals.
    Proposals,
    Proposal(u64),
    /// A rotated institution key's address, pointing to the account it
    /// signs for (whose address is that of the member's first key).
    KeyAlias(Address),
    /// The transfer records one block wrote (at the block's height), while
    /// they are remembered: the tree's (and a snapshot's) copy of the
    /// [`StateKey::TransferRecord`] index.
    TransferBlock(u64),
    /// An account's amount freezes (court orders, fraud holds on part of a
    /// balance), at most [`crate::hold::AMOUNT_FREEZES_MAX`].
    AmountFreezes(Address),
    /// What expires in one second of block time (seconds since the epoch):
    /// holds, amount freezes and account restrictions, in chunks of at
    /// most [`crate::hold::EXPIRING_CHUNK`] (second, chunk number).
    Expiring(u64, u32),
    /// How many things are listed to expire in a second (so in how many
    /// chunks).
    ExpiringCount(u64),
    /// The minutes (seconds since the epoch / 60) that have something
    /// listed under [`StateKey::Expiring`] not yet applied, ascending.
    ExpiryMinutes,
    /// How far expiries have been applied, and which applied minutes
    /// are still to be removed.
    ExpiryCursor,
    /// The open settlement cycle's gross flows between institutions (see
    /// [`crate::clearing`]).
    ClearingOpen,
    /// A closed settlement cycle's clearing record, by cycle number.
    Clearing(u64),
    /// A device key (by its address) and what it may sign for its account
    /// (see [`crate::hold`]).
    Device(Address),
    /// An FX provider's quote that a payment used (provider, quote id):
    /// a quote settles once. Kept until the quote's expiry, then removed
    /// (see [`crate::exchange`]).
    QuoteUsed(Address, u64),
    /// The mandates an account granted, at most
    /// [`crate::mandate::MANDATES_MAX`] (see [`crate::mandate`]).
    Mandates(Address),
    /// An entry of the shared blacklist, by listing key (see
    /// [`crate::blacklist`]).
    Listing(Hash),
    /// A member institution's memo key, by its account.
    MemoKey(Address),
}

impl StateKey {
    /// The key's position in the state tree.
    pub fn key_hash(&self) -> crate::tree::KeyHash {
        let bytes = borsh::to_vec(self).expect("borsh encoding into a Vec cannot fail");
        // v2: balances carry the daily outflow (one leaf per holding).
        // v3: holdings carry the held amount, accounts their restriction.
        // v4: holds live in their payer's holding (no key of their own).
        Hash::tagged(b"hutong/state-key/v4", &bytes).0
    }

    /// Whether the key is a leaf of the state tree. Transfer records are
    /// not: the [`StateKey::TransferBlock`] leaves hold them.
    pub fn in_tree(&self) -> bool {
        !matches!(self, StateKey::TransferRecord(..))
    }
}

/// What kind of party an account belongs to. Only customers are subject to
/// KYC tiers and their limits; institution and regulator accounts are the
/// consortium's own, named in genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum AccountKind {
    Customer {
        tier: Tier,
        identity_commitment: Hash,
    },
    /// A member institution's own (settlement) account; its key is the
    /// institution key from genesis.
    Institution,
    /// A regulator's account; it can freeze and unfreeze any account.
    Regulator,
    /// The account of an institution that left the consortium (or of a
    /// removed regulator): it may still move its own balances out, and has
    /// no other power.
    Retired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Account {
    pub owner: PublicKey,
    pub kind: AccountKind,
    /// The member institution that vouched for this account (for an
    /// institution, itself; for a regulator, its own address).
    pub institution: Address,
    /// The sequence number the next transaction from this account must use.
    pub sequence: Nonce,
    pub frozen: Option<Freeze>,
    /// Receive-only or send-only, by whom and until when (see
    /// [`crate::hold`]).
    pub restriction: Option<Restriction>,
}

/// A freeze on an account: why, and who placed it. A freeze placed by a
/// regulator can be lifted only by a regulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Freeze {
    pub reason: FreezeReason,
    pub by: Address,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AssetInfo {
    pub code: AssetCode,
    pub decimals: u8,
    /// The issuing member institution's address.
    pub issuer: Address,
    pub total_supply: Amount,
}

/// Limits for one tier and one asset, in the asset's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AssetLimits {
    pub asset: AssetCode,
    /// Largest single transfer.
    pub single_max: Amount,
    /// Largest total outflow per day (the day in the genesis time zone).
    pub daily_max: Amount,
    /// Transfers strictly above this need the institution's co-signature.
    pub step_up_threshold: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TierParams {
    pub tier: Tier,
    pub name: String,
    /// Sorted by asset; an asset without an entry may not be sent at this tier.
    pub limits: Vec<AssetLimits>,
}

/// Chain-wide parameters, written at genesis.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Params {
    /// Offset of the consortium's time zone from UTC, in seconds; "daily"
    /// limits reset at midnight in this zone. A fixed offset (not a zone
    /// name with daylight-saving rules) keeps the rule deterministic and
    /// free of a time-zone database.
    pub utc_offset_seconds: i32,
    /// Sorted by tier.
    pub tiers: Vec<TierParams>,
    /// The length of a settlement cycle between institutions, in seconds:
    /// it divides a day, and cycles start at midnight in the consortium's
    /// zone (see [`crate::clearing`]).
    pub settlement_cycle_seconds: u32,
    /// The accounts that may sign FX quotes for payments versus payments
    /// (members' institution accounts), ascending; see
    /// [`crate::exchange`].
    pub fx_providers: Vec<Address>,
    /// The regulator's identity keys, when the consortium runs the
    /// identity service: every `OpenAccount` then carries an identity
    /// envelope sealed to `hpke_key`.
    pub identity: Option<IdentityParams>,
}

/// The regulator's public identity keys (see `hutong_privacy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct IdentityParams {
    /// Checks the regulator's OPRF evaluations (ristretto255).
    pub oprf_key: [u8; 32],
    /// Seals identity envelopes and memos to the regulator (X25519).
    pub hpke_key: [u8; 32],
}

impl Params {
    pub fn is_fx_provider(&self, account: &Address) -> bool {
        self.fx_providers.binary_search(account).is_ok()
    }

    pub fn tier(&self, tier: Tier) -> Option<&TierParams> {
        self.tiers
            .binary_search_by_key(&tier, |t| t.tier)
            .ok()
            .map(|i| &self.tiers[i])
    }

    pub fn limits(&self, tier: Tier, asset: AssetCode) -> Option<&AssetLimits> {
        let t = self.tier(tier)?;
        t.limits
            .binary_search_by_key(&asset, |l| l.asset)
            .ok()
            .map(|i| &t.limits[i])
    }

    /// The settlement cycle (numbered from 1970-01-01 in the consortium's
    /// zone) of a timestamp in milliseconds.
    pub fn cycle_of(&self, timestamp_ms: u64) -> u64 {
        let local = (timestamp_ms / 1000) as i64 + i64::from(self.utc_offset_seconds);
        local.max(0) as u64 / u64::from(self.settlement_cycle_seconds.max(1))
    }

    /// When a cycle starts, in milliseconds since the Unix epoch (UTC).
    pub fn cycle_start_ms(&self, cycle: u64) -> i64 {
        let local = cycle as i64 * i64::from(self.settlement_cycle_seconds.max(1));
        (local - i64::from(self.utc_offset_seconds)) * 1000
    }

    /// The day number (since 1970-01-01 in the consortium's zone) of a
    /// timestamp in milliseconds.
    pub fn day_of(&self, timestamp_ms: u64) -> i64 {
        let local = (timestamp_ms / 1000) as i64 + i64::from(self.utc_offset_seconds);
        local.div_euclid(86_400)
    }
}

/// How much an account sent of an asset on a day (the day in the genesis
/// time zone, see [`Params::day_of`]). Only customers' outflow is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DailyOutflow {
    pub day: i64,
    pub spent: Amount,
}

/// An account's holding of one asset: its balance, its outflow on its
/// last day of sending, and how much of it is held. One state entry (one
/// leaf of the state tree), so a transfer changes three leaves: the
/// sender's account (its sequence), the sender's holding and the
/// recipient's holding.
#[derive(Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Holding {
    pub balance: Amount,
    pub outflow: DailyOutflow,
    /// Reserved by open holds and amount freezes: part of the balance the
    /// account may not send. It may exceed the balance (a court freeze of
    /// more than the account holds keeps what arrives later).
    pub held: Amount,
    /// The open holds this account placed on this asset, at most
    /// [`crate::hold::OPEN_HOLDS_MAX`], oldest first: kept in the entry
    /// that placing and ending a hold write anyway (see [`crate::hold`]).
    pub holds: Vec<crate::hold::OpenHold>,
}

impl Holding {
    /// A holding of `balance` that has sent nothing yet and holds nothing.
    pub fn of(balance: Amount) -> Holding {
        Holding {
            balance,
            outflow: DailyOutflow::default(),
            held: Amount::ZERO,
            holds: Vec::new(),
        }
    }

    /// What the account may send: the balance less what is held.
    pub fn available(&self) -> Amount {
        Amount(self.balance.0.saturating_sub(self.held.0))
    }
}

/// The idempotency record of a successful transfer: which transaction it
/// was, and its fields, to tell a retry from a conflicting reuse of the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TransferRecord {
    pub tx_hash: Hash,
    pub fields: TransferFields,
}

/// The records of one block, as the tree holds them (see
/// [`StateKey::TransferBlock`]).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TransferBlock {
    /// The block's timestamp: the records are forgotten once a block's
    /// timestamp is [`crate::transfer::TRANSFER_ID_RETENTION_MS`] later.
    pub timestamp: TimestampMs,
    /// Ascending by sender, then transfer id.
    pub records: Vec<(Address, TransferId, TransferRecord)>,
}

/// See [`StateKey::TransferWindow`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TransferWindow {
    /// The lowest height whose [`TransferBlock`] may still be held.
    pub oldest: u64,
}

/// What a transfer id was used for. A single transfer keeps its fields
/// (cheaper to compare than to hash); a batch keeps a digest of its payouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum TransferFields {
    Single {
        to: Address,
        asset: AssetCode,
        amount: Amount,
    },
    Batch {
        asset: AssetCode,
        payouts: Hash,
    },
    /// A hold's id is a transfer id of its payer: it cannot be reused
    /// while remembered, so a payee's retried capture never meets a new
    /// hold under an old id.
    Hold {
        to: Address,
        asset: AssetCode,
        amount: Amount,
        expires_at: TimestampMs,
    },
    /// A payment versus payment: a digest of its quote, amounts and payee.
    Exchange {
        digest: Hash,
    },
    /// How a capture or void ended a hold, under
    /// [`crate::hold::closed_hold_key`] (the record's transaction is the
    /// one that ended it). An expiry writes none: a hold neither open nor
    /// ended so has expired.
    HoldClosed {
        state: crate::hold::HoldState,
    },
}

/// A typed state value. The variant always matches the key's variant.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum StateValue {
    Params(Params),
    Account(Account),
    Asset(AssetInfo),
    Balance(Holding),
    TransferRecord(TransferRecord),
    TransferWindow(TransferWindow),
    Consortium(Consortium),
    Proposals(ProposalIndex),
    Proposal(Proposal),
    KeyAlias(Address),
    TransferBlock(TransferBlock),
    AmountFreezes(Vec<AmountFreeze>),
    Expiring(Vec<Expiring>),
    ExpiringCount(u32),
    ExpiryMinutes(Vec<u64>),
    ExpiryCursor(ExpiryCursor),
    ClearingOpen(crate::clearing::OpenCycle),
    Clearing(crate::clearing::ClearingRecord),
    Device(crate::hold::Device),
    /// The transaction that used the quote.
    QuoteUsed(Hash),
    Mandates(Vec<crate::mandate::Mandate>),
    Listing(crate::blacklist::Listing),
    MemoKey([u8; 32]),
}

impl StateValue {
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("borsh encoding into a Vec cannot fail")
    }
}
