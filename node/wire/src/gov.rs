//! Governance over JSON-RPC: the consortium's parameters and its
//! proposals, as `hutong_getParameters`, `hutong_getProposals` and
//! `hutong_getProposal` answer them (the rules are the runtime's,
//! `hutong_runtime::governance`). Keys are hex, addresses `ht1…`, amounts
//! strings of minor units, times milliseconds since the Unix epoch.

use hutong_runtime::governance::{
    Action, ActionProblem, ConsensusTiming, Consortium, MemberRole, Proposal, RegulatorPower,
    Status,
};
use hutong_runtime::state::{AssetLimits, Params};
use hutong_runtime::{Address, TimestampMs};
use serde::{Deserialize, Serialize};

/// Most proposals in one `getProposals` answer.
pub const PROPOSALS_PAGE_MAX: u32 = 100;

/// One action of a proposal, for a reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionView {
    AddMember {
        name: String,
        institution_key: String,
        node_key: String,
        role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p2p_address: Option<String>,
    },
    RemoveMember {
        name: String,
    },
    SetRole {
        name: String,
        role: String,
    },
    RotateNodeKey {
        name: String,
        node_key: String,
    },
    RotateInstitutionKey {
        name: String,
        institution_key: String,
    },
    AddRegulator {
        name: String,
        key: String,
        node_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p2p_address: Option<String>,
    },
    RemoveRegulator {
        name: String,
    },
    AddAsset {
        code: String,
        decimals: u8,
        issuer: String,
    },
    SetTierLimits {
        tier: u8,
        name: String,
        limits: LimitsView,
    },
    SetConsensusTiming {
        timing: TimingView,
    },
    SetFxProvider {
        name: String,
        enabled: bool,
    },
}

pub fn role_name(role: MemberRole) -> &'static str {
    match role {
        MemberRole::Validator => "validator",
        MemberRole::Observer => "observer",
    }
}

impl From<&Action> for ActionView {
    fn from(a: &Action) -> ActionView {
        match a {
            Action::AddMember {
                name,
                institution_key,
                node_key,
                role,
                p2p_address,
            } => ActionView::AddMember {
                name: name.clone(),
                institution_key: institution_key.to_hex(),
                node_key: node_key.to_hex(),
                role: role_name(*role).into(),
                p2p_address: p2p_address.clone(),
            },
            Action::RemoveMember { name } => ActionView::RemoveMember { name: name.clone() },
            Action::SetRole { name, role } => ActionView::SetRole {
                name: name.clone(),
                role: role_name(*role).into(),
            },
            Action::RotateNodeKey { name, node_key } => ActionView::RotateNodeKey {
                name: name.clone(),
                node_key: node_key.to_hex(),
            },
            Action::RotateInstitutionKey {
                name,
                institution_key,
            } => ActionView::RotateInstitutionKey {
                name: name.clone(),
                institution_key: institution_key.to_hex(),
            },
            Action::AddRegulator {
                name,
                key,
                node_key,
                p2p_address,
            } => ActionView::AddRegulator {
                name: name.clone(),
                key: key.to_hex(),
                node_key: node_key.to_hex(),
                p2p_address: p2p_address.clone(),
            },
            Action::RemoveRegulator { name } => ActionView::RemoveRegulator { name: name.clone() },
            Action::AddAsset {
                code,
                decimals,
                issuer,
            } => ActionView::AddAsset {
                code: code.to_string(),
                decimals: *decimals,
                issuer: issuer.clone(),
            },
            Action::SetTierLimits { tier, name, limits } => ActionView::SetTierLimits {
                tier: tier.0,
                name: name.clone(),
                limits: LimitsView::from(limits),
            },
            Action::SetConsensusTiming { timing } => ActionView::SetConsensusTiming {
                timing: TimingView::from(timing),
            },
            Action::SetFxProvider { name, enabled } => ActionView::SetFxProvider {
                name: name.clone(),
                enabled: *enabled,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsView {
    pub asset: String,
    pub single_max: String,
    pub daily_max: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up_threshold: Option<String>,
}

impl From<&AssetLimits> for LimitsView {
    fn from(l: &AssetLimits) -> LimitsView {
        LimitsView {
            asset: l.asset.to_string(),
            single_max: l.single_max.0.to_string(),
            daily_max: l.daily_max.0.to_string(),
            step_up_threshold: l.step_up_threshold.map(|t| t.0.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimingView {
    pub base_timeout_ms: u64,
    pub max_timeout_ms: u64,
    pub min_block_interval_ms: u64,
    pub empty_block_interval_ms: u64,
}

impl From<&ConsensusTiming> for TimingView {
    fn from(t: &ConsensusTiming) -> TimingView {
        TimingView {
            base_timeout_ms: t.base_timeout_ms,
            max_timeout_ms: t.max_timeout_ms,
            min_block_interval_ms: t.min_block_interval_ms,
            empty_block_interval_ms: t.empty_block_interval_ms,
        }
    }
}

/// One voter's vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteView {
    pub voter: String,
    /// The member's or regulator's name; absent if it has left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub approve: bool,
    /// Whether it counts (its voter is still a voter).
    pub counts: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TallyView {
    pub voters: u32,
    pub approvals: u32,
    pub rejections: u32,
    /// Approvals it needs to pass: more than `threshold` of the voters.
    pub needed: u32,
    pub vetoed: bool,
}

/// A proposal: what it does, its status and tally, who voted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalView {
    pub id: u64,
    pub proposer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposer_name: Option<String>,
    pub actions: Vec<ActionView>,
    /// Whether it changes the validator set: if it passes, the new set
    /// takes effect a few blocks later, at the end of the first block that
    /// certifies the executing block's result, which ends the epoch.
    pub changes_validators: bool,
    pub created_at: u64,
    pub deadline_ms: u64,
    /// `open`, `expired`, `executed`, `rejected`, `withdrawn` or `failed`
    /// (as of the latest block's time).
    pub status: String,
    /// The height at which it was executed, rejected, withdrawn or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<u64>,
    /// For a failed one: which action could not execute, and why (code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<ActionFailureView>,
    pub tally: TallyView,
    pub votes: Vec<VoteView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionFailureView {
    pub action: u8,
    pub code: String,
}

fn failure_view(action: u8, problem: ActionProblem) -> ActionFailureView {
    ActionFailureView {
        action,
        code: problem.code().to_string(),
    }
}

fn name_of(c: &Consortium, a: &Address) -> Option<String> {
    c.member_by_account(a).map(|m| m.name.clone()).or_else(|| {
        c.regulators
            .iter()
            .find(|r| r.account == *a)
            .map(|r| r.name.clone())
    })
}

/// Whether applying `actions` to `c` changes its validator set (as the
/// ledger would decide: the validators' node keys, in order).
pub fn changes_validators(c: &Consortium, actions: &[Action]) -> bool {
    let mut after = c.clone();
    for a in actions {
        match a {
            Action::AddMember {
                name,
                institution_key,
                node_key,
                role,
                p2p_address,
            } => after.members.push(hutong_runtime::governance::MemberEntry {
                name: name.clone(),
                account: Address::of(institution_key),
                institution_key: *institution_key,
                node_key: *node_key,
                role: *role,
                p2p_address: p2p_address.clone(),
            }),
            Action::RemoveMember { name } => after.members.retain(|m| m.name != *name),
            Action::SetRole { name, role } => {
                if let Some(m) = after.members.iter_mut().find(|m| m.name == *name) {
                    m.role = *role;
                }
            }
            Action::RotateNodeKey { name, node_key } => {
                if let Some(m) = after.members.iter_mut().find(|m| m.name == *name) {
                    m.node_key = *node_key;
                }
            }
            _ => {}
        }
    }
    after.validator_keys() != c.validator_keys()
}

impl ProposalView {
    /// The view of `p` in consortium `c` at block time `now`.
    pub fn of(p: &Proposal, c: &Consortium, now: TimestampMs) -> ProposalView {
        let tally = p.tally(c);
        let status = p.status_at(now);
        let (decided_at, failure) = match status {
            Status::Open | Status::Expired => (None, None),
            Status::Executed { height }
            | Status::Rejected { height }
            | Status::Withdrawn { height } => (Some(height.0), None),
            Status::Failed {
                height,
                action,
                problem,
            } => (Some(height.0), Some(failure_view(action, problem))),
        };
        // The least approvals that are more than the fraction.
        let voters = tally.voters as u64;
        let (num, den) = (
            u64::from(c.voting.numerator),
            u64::from(c.voting.denominator.max(1)),
        );
        let needed = (voters * num) / den + 1;
        ProposalView {
            id: p.id,
            proposer: p.proposer.to_string(),
            proposer_name: name_of(c, &p.proposer),
            actions: p.actions.iter().map(ActionView::from).collect(),
            changes_validators: changes_validators(c, &p.actions),
            created_at: p.created_at.0,
            deadline_ms: p.deadline.0,
            status: status.name().to_string(),
            decided_at,
            failure,
            tally: TallyView {
                voters: tally.voters as u32,
                approvals: tally.approvals as u32,
                rejections: tally.rejections as u32,
                needed: needed.min(u64::from(u32::MAX)) as u32,
                vetoed: tally.vetoed,
            },
            votes: p
                .votes
                .iter()
                .map(|(voter, approve)| VoteView {
                    voter: voter.to_string(),
                    name: name_of(c, voter),
                    approve: *approve,
                    counts: c.is_voter(voter),
                })
                .collect(),
        }
    }
}

/// `hutong_getProposals` parameters: newest first, from `before` (an id,
/// exclusive) down; `status` filters by status name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalsPage {
    pub proposals: Vec<ProposalView>,
    /// Pass as `before` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub name: String,
    pub account: String,
    pub institution_key: String,
    pub node_key: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegulatorView {
    pub name: String,
    pub account: String,
    pub key: String,
    pub node_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierView {
    pub tier: u8,
    pub name: String,
    pub limits: Vec<LimitsView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VotingView {
    /// Approvals must exceed `threshold[0] / threshold[1]` of the voters.
    pub threshold: [u16; 2],
    /// `none`, `veto` or `vote`.
    pub regulators: String,
}

/// `hutong_getParameters`: the consortium and its rules as of the latest
/// executed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParametersView {
    pub height: u64,
    pub epoch: u64,
    pub epoch_start: u64,
    /// The validators' node keys in force this epoch, in consensus order.
    pub active_validators: Vec<String>,
    /// The height of a validator-set change that has not taken effect yet
    /// (it does at the end of the first block that certifies it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator_change_pending: Option<u64>,
    pub dev_chain: bool,
    pub members: Vec<MemberView>,
    pub regulators: Vec<RegulatorView>,
    pub assets: Vec<String>,
    pub voting: VotingView,
    pub timing: TimingView,
    /// The consortium's time zone, seconds east of UTC.
    pub utc_offset_seconds: i32,
    pub tiers: Vec<TierView>,
    /// Each asset's decimals: an amount of `n` minor units is
    /// `n / 10^decimals` of the asset.
    #[serde(default)]
    pub decimals: std::collections::BTreeMap<String, u8>,
    /// The sizes a transaction and a call may have.
    #[serde(default)]
    pub sizes: SizesView,
    /// The accounts whose signed quotes settle payments versus payments.
    #[serde(default)]
    pub fx_providers: Vec<String>,
    /// The length of a settlement cycle between institutions, in seconds.
    #[serde(default)]
    pub settlement_cycle_seconds: u32,
    /// The regulator's identity service, when the consortium runs one:
    /// every account is then opened with an identity envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityServiceView>,
}

/// The regulator's public identity keys (64 hex digits each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityServiceView {
    /// Checks the regulator's evaluations of identity tags (ristretto255).
    pub oprf_key: String,
    /// Seals identity envelopes and memos to the regulator (X25519).
    pub hpke_key: String,
}

/// Size limits: of a transaction (every node), of a call and of the
/// pool's look-ahead (this node's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizesView {
    /// Bytes of one encoded signed transaction.
    pub tx_bytes_max: usize,
    pub memo_bytes_max: usize,
    /// Recipients of one batch transfer.
    pub batch_recipients_max: usize,
    /// Transactions in one `hutong_submitTransactions` call.
    pub submit_batch_max: usize,
    /// How far ahead of its account's sequence a sender's transactions
    /// may wait in this node's pool.
    pub sequence_window: u64,
    /// A sender's transactions this node's pool holds at most.
    pub per_sender_max: usize,
}

impl ParametersView {
    pub fn of(c: &Consortium, params: &Params, height: u64) -> ParametersView {
        ParametersView {
            height,
            epoch: c.epoch,
            epoch_start: c.epoch_start.0,
            active_validators: c.active_validators.iter().map(|k| k.to_hex()).collect(),
            validator_change_pending: c.set_change_pending.map(|h| h.0),
            dev_chain: c.dev_chain,
            members: c
                .members
                .iter()
                .map(|m| MemberView {
                    name: m.name.clone(),
                    account: m.account.to_string(),
                    institution_key: m.institution_key.to_hex(),
                    node_key: m.node_key.to_hex(),
                    role: role_name(m.role).into(),
                    p2p_address: m.p2p_address.clone(),
                })
                .collect(),
            regulators: c
                .regulators
                .iter()
                .map(|r| RegulatorView {
                    name: r.name.clone(),
                    account: r.account.to_string(),
                    key: r.key.to_hex(),
                    node_key: r.node_key.to_hex(),
                    p2p_address: r.p2p_address.clone(),
                })
                .collect(),
            assets: c.assets.iter().map(|a| a.to_string()).collect(),
            voting: VotingView {
                threshold: [c.voting.numerator, c.voting.denominator],
                regulators: match c.voting.regulators {
                    RegulatorPower::None => "none",
                    RegulatorPower::Veto => "veto",
                    RegulatorPower::Vote => "vote",
                }
                .into(),
            },
            timing: TimingView::from(&c.timing),
            utc_offset_seconds: params.utc_offset_seconds,
            fx_providers: params.fx_providers.iter().map(|a| a.to_string()).collect(),
            settlement_cycle_seconds: params.settlement_cycle_seconds,
            identity: params.identity.map(|i| IdentityServiceView {
                oprf_key: hex::encode(i.oprf_key),
                hpke_key: hex::encode(i.hpke_key),
            }),
            tiers: params
                .tiers
                .iter()
                .map(|t| TierView {
                    tier: t.tier.0,
                    name: t.name.clone(),
                    limits: t.limits.iter().map(LimitsView::from).collect(),
                })
                .collect(),
            // The node fills in what the consortium record does not hold.
            decimals: Default::default(),
            sizes: SizesView::default(),
        }
    }
}
