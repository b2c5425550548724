//! Validation: from the document people write to the [`Genesis`] the
//! ledger starts from. Every mistake is reported with the field's path and
//! the bad value.

use std::collections::BTreeMap;

use borsh::BorshSerialize;
use hutong_runtime::crypto::{domain, CryptoError};
use hutong_runtime::state::{AssetLimits, IdentityParams, Params, TierParams};
use hutong_runtime::{Address, Amount, AssetCode, ChainId, Hash, PublicKey, Tier, TimestampMs};

use crate::doc::{AmountDoc, GenesisDoc, RegulatorPowerDoc, Role};
use hutong_runtime::governance::{ConsensusTiming, RegulatorPower, VotingRules};

/// Version of the validated genesis encoding; part of the chain id.
/// 2: the consortium's voting rules and consensus timing are part of it
/// (and of the ledger state).
pub const GENESIS_FORMAT: u16 = 2;
/// Most members, regulators, assets, tiers and genesis accounts.
pub const MEMBERS_MAX: usize = 256;
pub const ASSETS_MAX: usize = 64;
pub const ACCOUNTS_MAX: usize = 1_000_000;
pub const NAME_BYTES_MAX: usize = 64;
pub const DECIMALS_MAX: u8 = 18;
pub const CONSORTIUM_BYTES_MAX: usize = 128;
pub const ADDRESS_BYTES_MAX: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis is not valid TOML: {0}")]
    Toml(String),
    #[error("genesis field `{path}`: {problem}")]
    Invalid { path: String, problem: Problem },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{value:?} is not an ed25519 public key (64 hex characters encoding a curve point)")]
    BadKey { value: String },
    #[error("{value:?} is a point of small order: anyone could sign for it; make a new key with `hutong keys new`")]
    WeakKey { value: String },
    #[error("{value:?} is not 64 hex characters (32 bytes)")]
    BadHash { value: String },
    #[error("{value:?} is not a ristretto255 element other than the identity (the OPRF public key `hutong keys identity` prints)")]
    BadIdentityKey { value: String },
    #[error("only one regulator runs the identity service; `{first}` already does")]
    SecondIdentityService { first: String },
    #[error("key {key} is already used at `{first}`; every key must be distinct")]
    DuplicateKey { key: String, first: String },
    #[error("name {name:?} is already used at `{first}`")]
    DuplicateName { name: String, first: String },
    #[error("{value:?} must be 1 to {NAME_BYTES_MAX} characters of a-z, 0-9, '-' or '_'")]
    BadName { value: String },
    #[error("{count} validators; BFT needs at least 4 (n = 3f + 1), or set dev_chain = true for a single-validator development chain")]
    TooFewValidators { count: usize },
    #[error("a dev chain has exactly 1 validator, found {count}")]
    DevChainValidators { count: usize },
    #[error("{count} entries; at most {max}")]
    TooMany { count: usize, max: usize },
    #[error("is empty; at least one entry is needed")]
    Empty,
    #[error("no member is named {name:?}")]
    UnknownMember { name: String },
    #[error("no asset has code {code:?}")]
    UnknownAsset { code: String },
    #[error("no tier {tier} is defined in [[tiers]]")]
    UnknownTier { tier: u8 },
    #[error("{value:?} is not an asset code (1-8 characters A-Z, 0-9, starting with a letter)")]
    BadAssetCode { value: String },
    #[error("{value} is not an amount in minor units (a non-negative integer below 2^128)")]
    BadAmount { value: String },
    #[error("the total initial supply of {asset} passes 2^128 - 1")]
    BalanceOverflow { asset: String },
    #[error("tier {tier} has no limits; list the limits for at least one asset")]
    TierWithoutLimits { tier: u8 },
    #[error("single_max {single_max} is larger than daily_max {daily_max}")]
    SingleAboveDaily { single_max: u128, daily_max: u128 },
    #[error("{value:?} is not a UTC offset like +08:00 or -05:30 (within ±14:00)")]
    BadOffset { value: String },
    #[error("{value} seconds does not divide a day into whole cycles of at least a minute")]
    BadCycle { value: u32 },
    #[error("decimals {value} is more than {DECIMALS_MAX}")]
    Decimals { value: u8 },
    #[error("step_up_threshold {threshold} is not below single_max {single_max}, so it could never apply; leave it out for no step-up")]
    StepUpNeverApplies { threshold: u128, single_max: u128 },
    #[error("is {len} bytes; at most {max}")]
    TooLong { len: usize, max: usize },
    #[error("[{numerator}, {denominator}] is not a threshold: it needs 1 <= numerator < denominator <= 1000, and at least one half")]
    BadThreshold { numerator: u16, denominator: u16 },
    #[error("{value:?} is not a p2p address like /ip4/10.0.0.1/tcp/26600 or /dns4/host.example/tcp/26600 (at most {ADDRESS_BYTES_MAX} bytes)")]
    BadAddress { value: String },
}

fn invalid(path: impl Into<String>, problem: Problem) -> GenesisError {
    GenesisError::Invalid {
        path: path.into(),
        problem,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize)]
pub enum MemberRole {
    Validator,
    Observer,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize)]
pub struct Member {
    pub name: String,
    pub institution_key: PublicKey,
    pub node_key: PublicKey,
    pub role: MemberRole,
    /// A hint for dialing the member's node; not part of the chain id.
    #[borsh(skip)]
    pub p2p_address: Option<String>,
    /// The X25519 key its customers' memos are sealed to.
    pub memo_key: Option<[u8; 32]>,
}

impl Member {
    pub fn address(&self) -> Address {
        Address::of(&self.institution_key)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize)]
pub struct Regulator {
    pub name: String,
    pub key: PublicKey,
    pub node_key: PublicKey,
    /// A hint for dialing the audit node; not part of the chain id.
    #[borsh(skip)]
    pub p2p_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize)]
pub struct GenesisAsset {
    pub code: AssetCode,
    pub decimals: u8,
    pub issuer: Address,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize)]
pub struct GenesisAccount {
    pub owner: PublicKey,
    pub institution: Address,
    pub tier: Tier,
    pub identity_commitment: Hash,
}

/// A validated genesis. Its borsh encoding is canonical: the chain id is
/// its hash, so two documents that differ only in formatting or comments
/// give the same chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize)]
pub struct Genesis {
    pub format: u16,
    pub consortium: String,
    pub genesis_time: TimestampMs,
    pub dev_chain: bool,
    /// In document order, which is also the validators' order.
    pub members: Vec<Member>,
    pub regulators: Vec<Regulator>,
    pub assets: Vec<GenesisAsset>,
    pub params: Params,
    pub voting: VotingRules,
    pub timing: ConsensusTiming,
    pub accounts: Vec<GenesisAccount>,
    /// Initial balances: members' first, then accounts', in document order,
    /// assets in code order within each.
    pub balances: Vec<(Address, AssetCode, Amount)>,
}

impl Genesis {
    /// Parses and validates a TOML genesis document.
    pub fn from_toml(text: &str) -> Result<Genesis, GenesisError> {
        let doc: GenesisDoc =
            toml::from_str(text).map_err(|e| GenesisError::Toml(e.to_string()))?;
        Genesis::from_doc(&doc)
    }

    /// The chain id: `SHA-256("hutong/genesis/v1" || 0 || borsh(self))`.
    pub fn chain_id(&self) -> ChainId {
        let bytes = borsh::to_vec(self).expect("borsh encoding into a Vec cannot fail");
        ChainId(Hash::tagged(domain::GENESIS, &bytes).0)
    }

    pub fn validators(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|m| m.role == MemberRole::Validator)
    }

    pub fn from_doc(doc: &GenesisDoc) -> Result<Genesis, GenesisError> {
        let mut keys = KeySet::default();
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        let mut check_name = |path: String, name: &str| -> Result<(), GenesisError> {
            let ok = !name.is_empty()
                && name.len() <= NAME_BYTES_MAX
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !ok {
                return Err(invalid(path, Problem::BadName { value: name.into() }));
            }
            if let Some(first) = names.get(name) {
                return Err(invalid(
                    path,
                    Problem::DuplicateName {
                        name: name.into(),
                        first: first.clone(),
                    },
                ));
            }
            names.insert(name.into(), path);
            Ok(())
        };

        if doc.consortium.trim().is_empty() {
            return Err(invalid("consortium", Problem::Empty));
        }
        text_bound("consortium", &doc.consortium, CONSORTIUM_BYTES_MAX)?;
        let utc_offset_seconds = parse_offset(&doc.utc_offset).ok_or_else(|| {
            invalid(
                "utc_offset",
                Problem::BadOffset {
                    value: doc.utc_offset.clone(),
                },
            )
        })?;

        let settlement_cycle_seconds = doc.settlement_cycle_seconds.unwrap_or(86_400);
        if !hutong_runtime::clearing::valid_cycle(settlement_cycle_seconds) {
            return Err(invalid(
                "settlement_cycle_seconds",
                Problem::BadCycle {
                    value: settlement_cycle_seconds,
                },
            ));
        }

        // Members.
        if doc.members.is_empty() {
            return Err(invalid("members", Problem::Empty));
        }
        bound("members", doc.members.len(), MEMBERS_MAX)?;
        let mut members = Vec::with_capacity(doc.members.len());
        let mut member_by_name: BTreeMap<&str, Address> = BTreeMap::new();
        for (i, m) in doc.members.iter().enumerate() {
            let at = format!("members[{i}]");
            check_name(format!("{at}.name"), &m.name)?;
            let institution_key = keys.add(format!("{at}.institution_key"), &m.institution_key)?;
            let node_key = keys.add(format!("{at}.node_key"), &m.node_key)?;
            let role = match m.role {
                Role::Validator => MemberRole::Validator,
                Role::Observer => MemberRole::Observer,
            };
            member_by_name.insert(&m.name, Address::of(&institution_key));
            members.push(Member {
                name: m.name.clone(),
                institution_key,
                node_key,
                role,
                p2p_address: address(format!("{at}.p2p_address"), &m.p2p_address)?,
                memo_key: match &m.memo_key {
                    Some(k) => Some(Hash::from_hex(k).map(|h| h.0).map_err(|_| {
                        invalid(
                            format!("{at}.memo_key"),
                            Problem::BadHash { value: k.clone() },
                        )
                    })?),
                    None => None,
                },
            });
        }
        let validators = members
            .iter()
            .filter(|m| m.role == MemberRole::Validator)
            .count();
        if doc.dev_chain {
            if validators != 1 {
                return Err(invalid(
                    "members",
                    Problem::DevChainValidators { count: validators },
                ));
            }
        } else if validators < 4 {
            return Err(invalid(
                "members",
                Problem::TooFewValidators { count: validators },
            ));
        }

        // Regulators.
        bound("regulators", doc.regulators.len(), MEMBERS_MAX)?;
        let mut regulators = Vec::with_capacity(doc.regulators.len());
        let mut identity: Option<(String, IdentityParams)> = None;
        for (i, r) in doc.regulators.iter().enumerate() {
            let at = format!("regulators[{i}]");
            check_name(format!("{at}.name"), &r.name)?;
            if let Some(id) = &r.identity {
                let at = format!("{at}.identity");
                if let Some((first, _)) = &identity {
                    return Err(invalid(
                        at,
                        Problem::SecondIdentityService {
                            first: first.clone(),
                        },
                    ));
                }
                let key = |field: &str, value: &str| -> Result<[u8; 32], GenesisError> {
                    Hash::from_hex(value).map(|h| h.0).map_err(|_| {
                        invalid(
                            format!("{at}.{field}"),
                            Problem::BadHash {
                                value: value.to_string(),
                            },
                        )
                    })
                };
                let oprf_key = key("oprf_key", &id.oprf_key)?;
                let hpke_key = key("hpke_key", &id.hpke_key)?;
                if !hutong_runtime::crypto::is_ristretto_element(&oprf_key) {
                    return Err(invalid(
                        format!("{at}.oprf_key"),
                        Problem::BadIdentityKey {
                            value: id.oprf_key.clone(),
                        },
                    ));
                }
                identity = Some((at, IdentityParams { oprf_key, hpke_key }));
            }
            regulators.push(Regulator {
                name: r.name.clone(),
                key: keys.add(format!("{at}.key"), &r.key)?,
                node_key: keys.add(format!("{at}.node_key"), &r.node_key)?,
                p2p_address: address(format!("{at}.p2p_address"), &r.p2p_address)?,
            });
        }

        // Assets.
        if doc.assets.is_empty() {
            return Err(invalid("assets", Problem::Empty));
        }
        bound("assets", doc.assets.len(), ASSETS_MAX)?;
        let mut assets: Vec<GenesisAsset> = Vec::with_capacity(doc.assets.len());
        for (i, a) in doc.assets.iter().enumerate() {
            let at = format!("assets[{i}]");
            let code = AssetCode::new(&a.code).map_err(|_| {
                invalid(
                    format!("{at}.code"),
                    Problem::BadAssetCode {
                        value: a.code.clone(),
                    },
                )
            })?;
            if let Some(j) = assets.iter().position(|x| x.code == code) {
                return Err(invalid(
                    format!("{at}.code"),
                    Problem::DuplicateName {
                        name: a.code.clone(),
                        first: format!("assets[{j}].code"),
                    },
                ));
            }
            if a.decimals > DECIMALS_MAX {
                return Err(invalid(
                    format!("{at}.decimals"),
                    Problem::Decimals { value: a.decimals },
                ));
            }
            let issuer = *member_by_name.get(a.issuer.as_str()).ok_or_else(|| {
                invalid(
                    format!("{at}.issuer"),
                    Problem::UnknownMember {
                        name: a.issuer.clone(),
                    },
                )
            })?;
            assets.push(GenesisAsset {
                code,
                decimals: a.decimals,
                issuer,
            });
        }
        let asset_code = |path: String, code: &str| -> Result<AssetCode, GenesisError> {
            assets
                .iter()
                .find(|a| a.code.as_str() == code)
                .map(|a| a.code)
                .ok_or_else(|| invalid(path, Problem::UnknownAsset { code: code.into() }))
        };

        // Tiers.
        if doc.tiers.is_empty() {
            return Err(invalid("tiers", Problem::Empty));
        }
        bound("tiers", doc.tiers.len(), 255)?;
        let mut tiers: Vec<TierParams> = Vec::with_capacity(doc.tiers.len());
        for (i, t) in doc.tiers.iter().enumerate() {
            let at = format!("tiers[{i}]");
            if let Some(j) = tiers.iter().position(|x| x.tier == Tier(t.tier)) {
                return Err(invalid(
                    format!("{at}.tier"),
                    Problem::DuplicateName {
                        name: t.tier.to_string(),
                        first: format!("tiers[{j}].tier"),
                    },
                ));
            }
            text_bound(&format!("{at}.name"), &t.name, NAME_BYTES_MAX)?;
            if t.limits.is_empty() {
                return Err(invalid(
                    format!("{at}.limits"),
                    Problem::TierWithoutLimits { tier: t.tier },
                ));
            }
            let mut limits: Vec<AssetLimits> = Vec::with_capacity(t.limits.len());
            for (k, l) in t.limits.iter().enumerate() {
                let lat = format!("{at}.limits[{k}]");
                let asset = asset_code(format!("{lat}.asset"), &l.asset)?;
                if let Some(j) = limits.iter().position(|x| x.asset == asset) {
                    return Err(invalid(
                        format!("{lat}.asset"),
                        Problem::DuplicateName {
                            name: l.asset.clone(),
                            first: format!("{at}.limits[{j}].asset"),
                        },
                    ));
                }
                let single_max = amount(format!("{lat}.single_max"), &l.single_max)?;
                let daily_max = amount(format!("{lat}.daily_max"), &l.daily_max)?;
                if single_max > daily_max {
                    return Err(invalid(
                        format!("{lat}.single_max"),
                        Problem::SingleAboveDaily {
                            single_max: single_max.0,
                            daily_max: daily_max.0,
                        },
                    ));
                }
                let step_up_threshold = match &l.step_up_threshold {
                    None => None,
                    Some(a) => Some(amount(format!("{lat}.step_up_threshold"), a)?),
                };
                if let Some(threshold) = step_up_threshold.filter(|t| *t >= single_max) {
                    return Err(invalid(
                        format!("{lat}.step_up_threshold"),
                        Problem::StepUpNeverApplies {
                            threshold: threshold.0,
                            single_max: single_max.0,
                        },
                    ));
                }
                limits.push(AssetLimits {
                    asset,
                    single_max,
                    daily_max,
                    step_up_threshold,
                });
            }
            limits.sort_by_key(|l| l.asset);
            tiers.push(TierParams {
                tier: Tier(t.tier),
                name: t.name.clone(),
                limits,
            });
        }
        tiers.sort_by_key(|t| t.tier);
        let mut fx_providers: Vec<Address> = doc
            .members
            .iter()
            .zip(&members)
            .filter(|(d, _)| d.fx_provider)
            .map(|(_, m)| m.address())
            .collect();
        fx_providers.sort();
        let params = Params {
            utc_offset_seconds,
            tiers,
            settlement_cycle_seconds,
            fx_providers,
            identity: identity.map(|(_, keys)| keys),
        };

        // Balances and supply.
        let mut balances = Vec::new();
        let mut supply: BTreeMap<AssetCode, u128> = BTreeMap::new();
        let mut add_balances = |at: &str,
                                owner: Address,
                                list: &BTreeMap<String, AmountDoc>|
         -> Result<(), GenesisError> {
            for (code, value) in list {
                let path = format!("{at}.balances.{code}");
                let asset = asset_code(path.clone(), code)?;
                let amt = amount(path, value)?;
                let total = supply.entry(asset).or_insert(0);
                *total = total.checked_add(amt.0).ok_or_else(|| {
                    invalid(
                        format!("{at}.balances.{code}"),
                        Problem::BalanceOverflow {
                            asset: code.clone(),
                        },
                    )
                })?;
                if amt.0 != 0 {
                    balances.push((owner, asset, amt));
                }
            }
            Ok(())
        };
        for (i, m) in doc.members.iter().enumerate() {
            add_balances(&format!("members[{i}]"), members[i].address(), &m.balances)?;
        }

        // Customer accounts.
        bound("accounts", doc.accounts.len(), ACCOUNTS_MAX)?;
        let mut accounts = Vec::with_capacity(doc.accounts.len());
        for (i, a) in doc.accounts.iter().enumerate() {
            let at = format!("accounts[{i}]");
            let owner = keys.add(format!("{at}.owner_key"), &a.owner_key)?;
            let institution = *member_by_name.get(a.institution.as_str()).ok_or_else(|| {
                invalid(
                    format!("{at}.institution"),
                    Problem::UnknownMember {
                        name: a.institution.clone(),
                    },
                )
            })?;
            if params.tier(Tier(a.tier)).is_none() {
                return Err(invalid(
                    format!("{at}.tier"),
                    Problem::UnknownTier { tier: a.tier },
                ));
            }
            let identity_commitment = Hash::from_hex(&a.identity_commitment).map_err(|_| {
                invalid(
                    format!("{at}.identity_commitment"),
                    Problem::BadHash {
                        value: a.identity_commitment.clone(),
                    },
                )
            })?;
            add_balances(&at, Address::of(&owner), &a.balances)?;
            accounts.push(GenesisAccount {
                owner,
                institution,
                tier: Tier(a.tier),
                identity_commitment,
            });
        }

        let [numerator, denominator] = doc.governance.threshold;
        if numerator == 0
            || numerator >= denominator
            || denominator > 1000
            || u32::from(numerator) * 2 < u32::from(denominator)
        {
            return Err(invalid(
                "governance.threshold",
                Problem::BadThreshold {
                    numerator,
                    denominator,
                },
            ));
        }
        let voting = VotingRules {
            numerator,
            denominator,
            regulators: match doc.governance.regulators {
                RegulatorPowerDoc::None => RegulatorPower::None,
                RegulatorPowerDoc::Veto => RegulatorPower::Veto,
                RegulatorPowerDoc::Vote => RegulatorPower::Vote,
            },
        };

        Ok(Genesis {
            format: GENESIS_FORMAT,
            consortium: doc.consortium.clone(),
            genesis_time: TimestampMs(doc.genesis_time_ms),
            dev_chain: doc.dev_chain,
            members,
            regulators,
            assets,
            params,
            voting,
            timing: ConsensusTiming::default(),
            accounts,
            balances,
        })
    }
}

fn text_bound(path: &str, text: &str, max: usize) -> Result<(), GenesisError> {
    if text.len() > max {
        return Err(invalid(
            path,
            Problem::TooLong {
                len: text.len(),
                max,
            },
        ));
    }
    Ok(())
}

/// Checks an address hint's shape: a multiaddr's text form. (Its
/// protocols are checked by the node, which dials it.)
pub fn check_address(text: &str) -> bool {
    text.len() <= ADDRESS_BYTES_MAX
        && text.len() > 1
        && text.starts_with('/')
        && text.bytes().all(|b| b.is_ascii_graphic())
}

fn address(path: String, hint: &Option<String>) -> Result<Option<String>, GenesisError> {
    match hint {
        Some(text) if !check_address(text) => Err(invalid(
            path,
            Problem::BadAddress {
                value: text.clone(),
            },
        )),
        other => Ok(other.clone()),
    }
}

fn bound(path: &str, count: usize, max: usize) -> Result<(), GenesisError> {
    if count > max {
        return Err(invalid(path, Problem::TooMany { count, max }));
    }
    Ok(())
}

fn amount(path: String, value: &AmountDoc) -> Result<Amount, GenesisError> {
    value.parse().map(Amount).ok_or_else(|| {
        invalid(
            path,
            Problem::BadAmount {
                value: value.to_string(),
            },
        )
    })
}

/// Parses `+HH:MM` / `-HH:MM` (or `Z`) into seconds east of UTC.
pub fn parse_offset(text: &str) -> Option<i32> {
    if text == "Z" || text == "UTC" {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h * 60 + m > 14 * 60 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Parses keys and remembers where each was first used.
#[derive(Default)]
struct KeySet {
    seen: BTreeMap<PublicKey, String>,
}

impl KeySet {
    fn add(&mut self, path: String, hex_key: &str) -> Result<PublicKey, GenesisError> {
        let key = PublicKey::from_hex(hex_key).map_err(|e| {
            let value = hex_key.to_string();
            let problem = match e {
                CryptoError::WeakPublicKey { .. } => Problem::WeakKey { value },
                _ => Problem::BadKey { value },
            };
            invalid(path.clone(), problem)
        })?;
        if let Some(first) = self.seen.get(&key) {
            return Err(invalid(
                path,
                Problem::DuplicateKey {
                    key: key.to_hex(),
                    first: first.clone(),
                },
            ));
        }
        self.seen.insert(key, path);
        Ok(key)
    }
}
