//! Governance by vote: the consortium as the ledger knows it, proposals to
//! change it, and their execution.
//!
//! The [`Consortium`] entry holds the members (with their keys and roles),
//! the regulators, the voting rules and the consensus timing. It is written
//! at genesis and changed only by a [`Proposal`] that passes:
//!
//! - A member institution (or, if genesis gives them a vote, a regulator)
//!   proposes an ordered list of [`Action`]s with a voting period of block
//!   time (`TxKind::Propose`); proposing counts as its approval.
//! - Each voter votes once with its institution key (`TxKind::Vote`); a
//!   changed vote replaces the earlier one. Votes from voters that left
//!   since no longer count. A vote in a block whose timestamp is past the
//!   deadline is refused (`voting_closed`).
//! - The vote that makes approvals exceed the threshold (more than
//!   `numerator / denominator` of the voters, two thirds by default)
//!   executes the proposal at once, in that transaction: every action is
//!   checked against the state first, then all are applied, or none (the
//!   proposal is then `Failed` with the reason, and the vote still
//!   counts). A proposal that can no longer pass, or that a regulator
//!   vetoes where genesis gives regulators a veto, is `Rejected`. One whose
//!   deadline passes is `Expired` (computed from block time, nothing is
//!   written). The proposer may `Withdraw` it while it is open.
//! - A change to the validator set (a validator added, removed, demoted or
//!   promoted, or its node key rotated) does not take effect in the block
//!   that executes it: it waits ([`Consortium::set_change_pending`]) for
//!   the first block whose payload certifies the execution result of that
//!   height (the block's result claim, [`crate::BlockContext::certified`]).
//!   That block is the last of the old epoch: it increments
//!   [`Consortium::epoch`] and puts the members' validators in force
//!   ([`Consortium::active_validators`]), and the new set rules from the
//!   next height (the node switches at that boundary). So the old
//!   epoch's validators certify, with a quorum certificate, a state root
//!   in which the new set is written: anyone holding the genesis can
//!   follow the chain of validator sets from epoch to epoch (audit proofs,
//!   joining nodes) without executing a block. While a change waits,
//!   another change to the validator set is refused
//!   (`validator_change_pending`): the waiting state then names exactly
//!   the set that follows.
//!
//! Everything here is deterministic: heights and block timestamps are the
//! only clock, and every list is bounded.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::PublicKey;
use crate::state::{AssetLimits, TierParams};
use crate::types::{Address, AssetCode, Height, Tier, TimestampMs};

/// Most actions in one proposal.
pub const ACTIONS_MAX: usize = 16;
/// Most proposals open at once in the whole consortium, and per proposer.
pub const OPEN_PROPOSALS_MAX: usize = 256;
pub const OPEN_PROPOSALS_PER_PROPOSER_MAX: usize = 8;
/// The shortest and longest voting periods, in milliseconds of block time.
pub const VOTING_PERIOD_MIN_MS: u64 = 1_000;
pub const VOTING_PERIOD_MAX_MS: u64 = 90 * 24 * 3_600 * 1_000;
/// Longest member name and p2p address hint, in bytes.
pub const NAME_BYTES_MAX: usize = 64;
pub const ADDRESS_BYTES_MAX: usize = 256;
/// Most members and regulators.
pub const MEMBERS_MAX: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum MemberRole {
    /// Votes in consensus and proposes blocks.
    Validator,
    /// A replica of the ledger without a consensus vote.
    Observer,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MemberEntry {
    pub name: String,
    /// The member's own account: the address of its first institution
    /// key; it stays when the key is rotated.
    pub account: Address,
    pub institution_key: PublicKey,
    pub node_key: PublicKey,
    pub role: MemberRole,
    /// Where its node listens, if a proposal said so (genesis hints stay
    /// off the ledger).
    pub p2p_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RegulatorEntry {
    pub name: String,
    pub account: Address,
    pub key: PublicKey,
    pub node_key: PublicKey,
    pub p2p_address: Option<String>,
}

/// What regulators may do in governance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum RegulatorPower {
    /// Regulators watch; only members vote.
    None,
    /// Any regulator's "no" rejects a proposal.
    Veto,
    /// Regulators vote as members do, and may propose.
    Vote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct VotingRules {
    /// A proposal passes when approvals exceed `numerator / denominator`
    /// of the voters.
    pub numerator: u16,
    pub denominator: u16,
    pub regulators: RegulatorPower,
}

impl Default for VotingRules {
    fn default() -> Self {
        VotingRules {
            numerator: 2,
            denominator: 3,
            regulators: RegulatorPower::None,
        }
    }
}

impl VotingRules {
    /// Whether `approvals` of `voters` pass: strictly more than the
    /// fraction.
    pub fn passes(&self, approvals: usize, voters: usize) -> bool {
        approvals as u128 * u128::from(self.denominator)
            > voters as u128 * u128::from(self.numerator)
    }
}

/// The consensus timing every node runs with, changed by vote (a node's
/// `config.toml` may override it locally; the node then says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ConsensusTiming {
    pub base_timeout_ms: u64,
    pub max_timeout_ms: u64,
    pub min_block_interval_ms: u64,
    pub empty_block_interval_ms: u64,
}

impl Default for ConsensusTiming {
    fn default() -> Self {
        ConsensusTiming {
            base_timeout_ms: 1_000,
            max_timeout_ms: 10_000,
            min_block_interval_ms: 50,
            empty_block_interval_ms: 500,
        }
    }
}

impl ConsensusTiming {
    /// What every node can run with: the node refuses the same
    /// combinations in its config (`ConsensusSection::resolve`), so a
    /// vote can never give nodes timing they cannot start with. A leader
    /// waits less than a round for its parent's interval, and an idle
    /// round's empty block comes within half a round.
    pub fn is_sane(&self) -> bool {
        self.base_timeout_ms >= 50
            && self.max_timeout_ms >= self.base_timeout_ms
            && self.max_timeout_ms <= 600_000
            && self.min_block_interval_ms <= 10_000
            && self.min_block_interval_ms < self.base_timeout_ms
            && self.empty_block_interval_ms >= self.min_block_interval_ms
            && self.empty_block_interval_ms.saturating_mul(2) <= self.base_timeout_ms
    }
}

/// The consortium: members, regulators, rules, timing, epoch.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Consortium {
    /// Incremented by every change to the validator set, when it takes
    /// effect.
    pub epoch: u64,
    /// The first height of the current epoch.
    pub epoch_start: Height,
    /// The validators' node keys in force in this epoch, in order: the
    /// consensus set. It equals [`Consortium::validator_keys`] except
    /// while a change to the members' validators waits to take effect.
    pub active_validators: Vec<PublicKey>,
    /// The height of the latest change to the members' validators that is
    /// not in force yet. The first block that certifies the result of this
    /// height (or a later one) ends the epoch and puts it in force.
    pub set_change_pending: Option<Height>,
    /// A single-validator development chain (no fault tolerance).
    pub dev_chain: bool,
    /// In order; the validators' order is their order here.
    pub members: Vec<MemberEntry>,
    pub regulators: Vec<RegulatorEntry>,
    /// Every asset's code, sorted (each has its [`crate::state::AssetInfo`]).
    pub assets: Vec<AssetCode>,
    pub voting: VotingRules,
    pub timing: ConsensusTiming,
}

impl Consortium {
    pub fn validators(&self) -> impl Iterator<Item = &MemberEntry> {
        self.members
            .iter()
            .filter(|m| m.role == MemberRole::Validator)
    }

    pub fn member(&self, name: &str) -> Option<&MemberEntry> {
        self.members.iter().find(|m| m.name == name)
    }

    pub fn member_by_account(&self, account: &Address) -> Option<&MemberEntry> {
        self.members.iter().find(|m| m.account == *account)
    }

    /// Who votes: every member, and the regulators if genesis says so.
    pub fn is_voter(&self, account: &Address) -> bool {
        self.member_by_account(account).is_some()
            || (self.voting.regulators == RegulatorPower::Vote && self.is_regulator(account))
    }

    pub fn is_regulator(&self, account: &Address) -> bool {
        self.regulators.iter().any(|r| r.account == *account)
    }

    pub fn voter_count(&self) -> usize {
        self.members.len()
            + match self.voting.regulators {
                RegulatorPower::Vote => self.regulators.len(),
                _ => 0,
            }
    }

    /// The members' validators' node keys, in order: the set the next
    /// epoch will run with (the current one runs with
    /// [`Consortium::active_validators`]).
    pub fn validator_keys(&self) -> Vec<PublicKey> {
        self.validators().map(|m| m.node_key).collect()
    }
}

/// One change to the consortium.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Action {
    AddMember {
        name: String,
        institution_key: PublicKey,
        node_key: PublicKey,
        role: MemberRole,
        p2p_address: Option<String>,
    },
    RemoveMember {
        name: String,
    },
    SetRole {
        name: String,
        role: MemberRole,
    },
    RotateNodeKey {
        name: String,
        node_key: PublicKey,
    },
    /// The member's account keeps its address; the new key signs for it
    /// from the execution on, and the old one no longer does.
    RotateInstitutionKey {
        name: String,
        institution_key: PublicKey,
    },
    AddRegulator {
        name: String,
        key: PublicKey,
        node_key: PublicKey,
        p2p_address: Option<String>,
    },
    RemoveRegulator {
        name: String,
    },
    AddAsset {
        code: AssetCode,
        decimals: u8,
        /// The issuing member's name.
        issuer: String,
    },
    /// Sets one asset's limits in a tier (creating the tier, with this
    /// name, if it does not exist yet).
    SetTierLimits {
        tier: Tier,
        name: String,
        limits: AssetLimits,
    },
    SetConsensusTiming {
        timing: ConsensusTiming,
    },
    /// Makes a member an FX provider (its quotes settle payments versus
    /// payments, see [`crate::exchange`]) or ends that.
    SetFxProvider {
        name: String,
        enabled: bool,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::AddMember { .. } => "add_member",
            Action::RemoveMember { .. } => "remove_member",
            Action::SetRole { .. } => "set_role",
            Action::RotateNodeKey { .. } => "rotate_node_key",
            Action::RotateInstitutionKey { .. } => "rotate_institution_key",
            Action::AddRegulator { .. } => "add_regulator",
            Action::RemoveRegulator { .. } => "remove_regulator",
            Action::AddAsset { .. } => "add_asset",
            Action::SetTierLimits { .. } => "set_tier_limits",
            Action::SetConsensusTiming { .. } => "set_consensus_timing",
            Action::SetFxProvider { .. } => "set_fx_provider",
        }
    }

    /// Whether the texts it carries are within bounds (checked at decode).
    pub fn within_bounds(&self) -> bool {
        let name_ok = |n: &str| n.len() <= NAME_BYTES_MAX;
        let addr_ok = |a: &Option<String>| a.as_ref().is_none_or(|a| a.len() <= ADDRESS_BYTES_MAX);
        match self {
            Action::AddMember {
                name, p2p_address, ..
            }
            | Action::AddRegulator {
                name, p2p_address, ..
            } => name_ok(name) && addr_ok(p2p_address),
            Action::RemoveMember { name }
            | Action::SetRole { name, .. }
            | Action::RotateNodeKey { name, .. }
            | Action::RotateInstitutionKey { name, .. }
            | Action::RemoveRegulator { name }
            | Action::AddAsset { issuer: name, .. }
            | Action::SetTierLimits { name, .. }
            | Action::SetFxProvider { name, .. } => name_ok(name),
            Action::SetConsensusTiming { .. } => true,
        }
    }
}

/// Why an action cannot execute: a stable code per problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ActionProblem {
    BadName,
    BadAddress,
    DuplicateName,
    /// The key is already a member's, a regulator's or an account's.
    KeyInUse,
    WeakKey,
    UnknownMember,
    UnknownRegulator,
    /// Fewer than 4 validators would remain (BFT needs n = 3f + 1).
    TooFewValidators,
    /// A development chain keeps exactly one validator.
    DevChainValidators,
    TooManyMembers,
    /// The member issues an asset; it cannot leave while it does.
    IssuerCannotLeave,
    /// The role is the member's role already.
    NoChange,
    AssetExists,
    BadAsset,
    BadLimits,
    BadTiming,
    /// The last regulator cannot be removed.
    LastRegulator,
    /// Another change to the validator set has not taken effect yet (it
    /// does within a few blocks); propose this one again after it. One
    /// change at a time is what lets the old epoch's validators certify
    /// exactly the set that follows them.
    ValidatorChangePending,
}

impl ActionProblem {
    pub fn code(&self) -> &'static str {
        match self {
            ActionProblem::BadName => "bad_name",
            ActionProblem::BadAddress => "bad_address",
            ActionProblem::DuplicateName => "duplicate_name",
            ActionProblem::KeyInUse => "key_in_use",
            ActionProblem::WeakKey => "weak_key",
            ActionProblem::UnknownMember => "unknown_member",
            ActionProblem::UnknownRegulator => "unknown_regulator",
            ActionProblem::TooFewValidators => "too_few_validators",
            ActionProblem::DevChainValidators => "dev_chain_validators",
            ActionProblem::TooManyMembers => "too_many_members",
            ActionProblem::IssuerCannotLeave => "issuer_cannot_leave",
            ActionProblem::NoChange => "no_change",
            ActionProblem::AssetExists => "asset_exists",
            ActionProblem::BadAsset => "bad_asset",
            ActionProblem::BadLimits => "bad_limits",
            ActionProblem::BadTiming => "bad_timing",
            ActionProblem::LastRegulator => "last_regulator",
            ActionProblem::ValidatorChangePending => "validator_change_pending",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalStatus {
    /// Open for votes until its deadline (then it is expired: see
    /// [`Proposal::status_at`]).
    Open,
    Executed {
        height: Height,
    },
    /// Vetoed by a regulator, or too many votes against to pass.
    Rejected {
        height: Height,
    },
    Withdrawn {
        height: Height,
    },
    /// It passed, but an action could not execute; nothing was applied.
    Failed {
        height: Height,
        action: u8,
        problem: ActionProblem,
    },
}

/// A proposal's status as seen at a block time: an open proposal past its
/// deadline is expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Expired,
    Executed {
        height: Height,
    },
    Rejected {
        height: Height,
    },
    Withdrawn {
        height: Height,
    },
    Failed {
        height: Height,
        action: u8,
        problem: ActionProblem,
    },
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Expired => "expired",
            Status::Executed { .. } => "executed",
            Status::Rejected { .. } => "rejected",
            Status::Withdrawn { .. } => "withdrawn",
            Status::Failed { .. } => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub id: u64,
    pub proposer: Address,
    pub actions: Vec<Action>,
    pub created_at: Height,
    /// Votes are taken in blocks whose timestamp is at most this.
    pub deadline: TimestampMs,
    /// One entry per voter, sorted by address: `true` approves.
    pub votes: Vec<(Address, bool)>,
    pub status: ProposalStatus,
}

impl Proposal {
    pub fn status_at(&self, now: TimestampMs) -> Status {
        match self.status {
            ProposalStatus::Open if now > self.deadline => Status::Expired,
            ProposalStatus::Open => Status::Open,
            ProposalStatus::Executed { height } => Status::Executed { height },
            ProposalStatus::Rejected { height } => Status::Rejected { height },
            ProposalStatus::Withdrawn { height } => Status::Withdrawn { height },
            ProposalStatus::Failed {
                height,
                action,
                problem,
            } => Status::Failed {
                height,
                action,
                problem,
            },
        }
    }

    /// Approvals and rejections among current voters.
    pub fn tally(&self, consortium: &Consortium) -> Tally {
        let mut tally = Tally {
            voters: consortium.voter_count(),
            ..Tally::default()
        };
        for (voter, approve) in &self.votes {
            if consortium.is_voter(voter) {
                if *approve {
                    tally.approvals += 1;
                } else {
                    tally.rejections += 1;
                }
            }
            if !approve && consortium.voting.regulators == RegulatorPower::Veto {
                tally.vetoed |= consortium.is_regulator(voter);
            }
        }
        tally
    }

    /// Records `voter`'s vote, replacing an earlier one.
    pub(crate) fn record(&mut self, voter: Address, approve: bool) {
        match self.votes.binary_search_by_key(&voter, |(a, _)| *a) {
            Ok(i) => self.votes[i].1 = approve,
            Err(i) => self.votes.insert(i, (voter, approve)),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub voters: usize,
    pub approvals: usize,
    pub rejections: usize,
    pub vetoed: bool,
}

impl Tally {
    pub fn passes(&self, rules: &VotingRules) -> bool {
        !self.vetoed && rules.passes(self.approvals, self.voters)
    }

    /// Whether it can still pass if every voter yet to vote approves.
    pub fn can_pass(&self, rules: &VotingRules) -> bool {
        !self.vetoed && rules.passes(self.voters.saturating_sub(self.rejections), self.voters)
    }
}

/// The proposal register: the next id and the proposals still open.
#[derive(Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProposalIndex {
    pub next_id: u64,
    /// Ids of proposals with status `Open` (expired ones are dropped when
    /// a new proposal needs room), ascending.
    pub open: Vec<u64>,
}

/// A member's or regulator's name: 1 to 64 of a-z, 0-9, '-', '_'.
pub fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_BYTES_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// An address hint's shape: the text of a multiaddr.
pub fn address_ok(text: &str) -> bool {
    text.len() > 1
        && text.len() <= ADDRESS_BYTES_MAX
        && text.starts_with('/')
        && text.bytes().all(|b| b.is_ascii_graphic())
}

/// Tier limits that make sense: the same rules genesis checks.
pub fn limits_ok(limits: &AssetLimits) -> bool {
    limits.single_max <= limits.daily_max
        && limits
            .step_up_threshold
            .is_none_or(|t| t < limits.single_max)
}

/// Sets `limits` in `tiers` (sorted by tier, each sorted by asset).
pub(crate) fn set_limits(tiers: &mut Vec<TierParams>, tier: Tier, name: &str, limits: AssetLimits) {
    let t = match tiers.binary_search_by_key(&tier, |t| t.tier) {
        Ok(i) => &mut tiers[i],
        Err(i) => {
            tiers.insert(
                i,
                TierParams {
                    tier,
                    name: name.to_string(),
                    limits: Vec::new(),
                },
            );
            &mut tiers[i]
        }
    };
    match t.limits.binary_search_by_key(&limits.asset, |l| l.asset) {
        Ok(i) => t.limits[i] = limits,
        Err(i) => t.limits.insert(i, limits),
    }
}
