//! The genesis document as written by people: TOML, with keys in hex and
//! amounts as integers or decimal strings (TOML integers stop at 2^63).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisDoc {
    /// The consortium's name, for people.
    pub consortium: String,
    /// The consortium's time zone as a fixed UTC offset, `+08:00`; daily
    /// limits reset at midnight there.
    pub utc_offset: String,
    /// The timestamp of block 0, in milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// How long a settlement cycle between institutions lasts, in
    /// seconds (default a day): it divides a day, and cycles start at
    /// midnight in the consortium's time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_cycle_seconds: Option<u32>,
    /// A development chain: a single validator, no fault tolerance.
    #[serde(default)]
    pub dev_chain: bool,
    pub members: Vec<MemberDoc>,
    #[serde(default)]
    pub regulators: Vec<RegulatorDoc>,
    pub assets: Vec<AssetDoc>,
    pub tiers: Vec<TierDoc>,
    #[serde(default)]
    pub accounts: Vec<AccountDoc>,
    /// How the consortium changes itself by vote (default: more than two
    /// thirds of members, regulators without a vote).
    #[serde(default, skip_serializing_if = "GovernanceDoc::is_default")]
    pub governance: GovernanceDoc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceDoc {
    /// A proposal passes when approvals exceed this fraction of the
    /// voters: `[2, 3]` is "more than two thirds".
    #[serde(default = "GovernanceDoc::two_thirds")]
    pub threshold: [u16; 2],
    /// What regulators may do: "none" (watch), "veto" (any one's "no"
    /// rejects) or "vote" (vote and propose as members do).
    #[serde(default)]
    pub regulators: RegulatorPowerDoc,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegulatorPowerDoc {
    #[default]
    None,
    Veto,
    Vote,
}

impl Default for GovernanceDoc {
    fn default() -> Self {
        GovernanceDoc {
            threshold: GovernanceDoc::two_thirds(),
            regulators: RegulatorPowerDoc::None,
        }
    }
}

impl GovernanceDoc {
    fn two_thirds() -> [u16; 2] {
        [2, 3]
    }

    pub fn is_default(&self) -> bool {
        *self == GovernanceDoc::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Votes and proposes.
    Validator,
    /// A non-voting replica of a member.
    Observer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberDoc {
    /// Short unique name, used to refer to the member in this document.
    pub name: String,
    /// Signs the institution's transactions (opening accounts, minting).
    pub institution_key: String,
    /// The node's identity on the network and its consensus signing key.
    pub node_key: String,
    pub role: Role,
    /// Where the member's node listens, for its peers to dial
    /// (`/ip4/10.0.0.1/tcp/26600`, `/dns4/node.bank-a.example/tcp/26600`).
    /// A hint, not part of the chain id: peers are authenticated by their
    /// node key, so a wrong address costs a connection, never safety.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_address: Option<String>,
    /// Initial balances of the institution's own settlement account.
    #[serde(default)]
    pub balances: BTreeMap<String, AmountDoc>,
    /// The member signs FX quotes that payments versus payments settle at
    /// (its settlement account pays and receives both currencies).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fx_provider: bool,
    /// The X25519 key its customers' memos are sealed to (64 hex digits;
    /// `hutong keys memo FILE` prints it from the key file its node
    /// keeps as `[memo] key`). A member may publish or change it later
    /// with `hutong tx set-memo-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegulatorDoc {
    pub name: String,
    /// Signs freezes and authenticates audit queries.
    pub key: String,
    /// The regulator's audit node identity on the network.
    pub node_key: String,
    /// Where the audit node listens; a hint, as for members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_address: Option<String>,
    /// The public keys of the identity service this regulator runs (at
    /// most one regulator does): institutions check its evaluations of
    /// identity tags and seal envelopes and memos to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityDoc>,
}

/// `[regulators.identity]`: the regulator's identity keys, 64 hex
/// characters each (`hutong keys identity` prints them from the key file
/// its node keeps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityDoc {
    /// The OPRF public key (a ristretto255 element).
    pub oprf_key: String,
    /// The HPKE public key (X25519).
    pub hpke_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetDoc {
    pub code: String,
    pub decimals: u8,
    /// The issuing member's name.
    pub issuer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierDoc {
    pub tier: u8,
    pub name: String,
    pub limits: Vec<LimitDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitDoc {
    pub asset: String,
    pub single_max: AmountDoc,
    pub daily_max: AmountDoc,
    #[serde(default)]
    pub step_up_threshold: Option<AmountDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDoc {
    pub owner_key: String,
    /// The member institution that vouched for the account.
    pub institution: String,
    pub tier: u8,
    /// Salted hash of the customer's identity, in hex.
    pub identity_commitment: String,
    #[serde(default)]
    pub balances: BTreeMap<String, AmountDoc>,
}

/// An amount in minor units: a TOML integer, or a decimal string for values
/// past 2^63.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AmountDoc {
    Int(u64),
    Text(String),
}

impl AmountDoc {
    pub fn parse(&self) -> Option<u128> {
        match self {
            AmountDoc::Int(v) => Some(u128::from(*v)),
            AmountDoc::Text(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            AmountDoc::Text(_) => None,
        }
    }

    pub fn from_u128(v: u128) -> AmountDoc {
        match u64::try_from(v) {
            Ok(v) if v <= i64::MAX as u64 => AmountDoc::Int(v),
            _ => AmountDoc::Text(v.to_string()),
        }
    }
}

impl fmt::Display for AmountDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountDoc::Int(v) => write!(f, "{v}"),
            AmountDoc::Text(s) => write!(f, "{s:?}"),
        }
    }
}
