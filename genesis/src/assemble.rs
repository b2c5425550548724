//! Assembling a genesis from member cards and a template: the
//! coordinator's step of the genesis ceremony.
//!
//! The cards give the members and regulators (in the order given, which
//! is also the validators' order); the template gives everything else:
//! the consortium's name and time zone, assets, risk tiers, initial
//! balances and customer accounts. A template is a TOML file, or flags
//! (`--asset`, `--tier`, `--balance`) parsed by [`AssemblyTemplate::add_flag`]
//! helpers, or both.
//!
//! ```toml
//! consortium = "Greater Bay payments consortium"
//! utc_offset = "+08:00"
//! genesis_time_ms = 1767196800000
//!
//! [[assets]]
//! code = "CNY"
//! decimals = 2
//! issuer = "bank-a"
//!
//! [[tiers]]
//! tier = 1
//! name = "basic"
//! limits = [{ asset = "CNY", single_max = 500000, daily_max = 2000000 }]
//!
//! [balances.bank-a]
//! CNY = 1000000000
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::card::{Card, CardError, CardProblem, CardRole};
use crate::doc::{
    AccountDoc, AmountDoc, AssetDoc, GenesisDoc, GovernanceDoc, LimitDoc, MemberDoc, RegulatorDoc,
    Role, TierDoc,
};

/// Everything in a genesis that is not a member or a regulator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssemblyTemplate {
    pub consortium: Option<String>,
    pub utc_offset: Option<String>,
    pub genesis_time_ms: Option<u64>,
    #[serde(default)]
    pub dev_chain: bool,
    #[serde(default)]
    pub assets: Vec<AssetDoc>,
    #[serde(default)]
    pub tiers: Vec<TierDoc>,
    #[serde(default)]
    pub accounts: Vec<AccountDoc>,
    /// Initial balances of members' own accounts: member name → asset →
    /// amount in minor units.
    #[serde(default)]
    pub balances: BTreeMap<String, BTreeMap<String, AmountDoc>>,
    /// Voting rules (default: more than two thirds of members).
    #[serde(default)]
    pub governance: GovernanceDoc,
}

/// A mistake in the template or a flag, or in the cards taken together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssembleError {
    #[error("template is not valid TOML: {0}")]
    Toml(String),
    #[error("{flag} {value:?}: {problem}")]
    Flag {
        flag: &'static str,
        value: String,
        problem: String,
    },
    #[error("template field `{field}`: {problem}")]
    Template { field: String, problem: String },
    #[error(transparent)]
    Card(#[from] CardError),
    #[error("no member cards: give one --card per member and regulator")]
    NoCards,
}

fn flag_error(flag: &'static str, value: &str, problem: impl Into<String>) -> AssembleError {
    AssembleError::Flag {
        flag,
        value: value.to_string(),
        problem: problem.into(),
    }
}

impl AssemblyTemplate {
    pub fn from_toml(text: &str) -> Result<AssemblyTemplate, AssembleError> {
        toml::from_str(text).map_err(|e| AssembleError::Toml(e.message().to_string()))
    }

    /// `--asset CODE:DECIMALS:ISSUER`, e.g. `CNY:2:bank-a`.
    pub fn add_asset_flag(&mut self, value: &str) -> Result<(), AssembleError> {
        let parts: Vec<&str> = value.split(':').collect();
        let [code, decimals, issuer] = parts[..] else {
            return Err(flag_error(
                "--asset",
                value,
                "expected CODE:DECIMALS:ISSUER, e.g. CNY:2:bank-a",
            ));
        };
        let decimals = decimals
            .parse()
            .map_err(|_| flag_error("--asset", value, "DECIMALS is not a number from 0 to 18"))?;
        self.assets.push(AssetDoc {
            code: code.to_string(),
            decimals,
            issuer: issuer.to_string(),
        });
        Ok(())
    }

    /// `--tier TIER:NAME:ASSET:SINGLE_MAX:DAILY_MAX[:STEP_UP]`, amounts in
    /// minor units, e.g. `2:verified:CNY:5000000:20000000:1000000`. Give
    /// the flag once per asset; the entries of one tier must agree on its
    /// name.
    pub fn add_tier_flag(&mut self, value: &str) -> Result<(), AssembleError> {
        let parts: Vec<&str> = value.split(':').collect();
        if !(5..=6).contains(&parts.len()) {
            return Err(flag_error(
                "--tier",
                value,
                "expected TIER:NAME:ASSET:SINGLE_MAX:DAILY_MAX[:STEP_UP], amounts in minor units",
            ));
        }
        let tier: u8 = parts[0]
            .parse()
            .map_err(|_| flag_error("--tier", value, "TIER is not a number from 0 to 255"))?;
        let amount = |text: &str, what: &str| -> Result<AmountDoc, AssembleError> {
            let doc = AmountDoc::Text(text.to_string());
            doc.parse().map(AmountDoc::from_u128).ok_or_else(|| {
                flag_error(
                    "--tier",
                    value,
                    format!("{what} is not an amount in minor units"),
                )
            })
        };
        let limit = LimitDoc {
            asset: parts[2].to_string(),
            single_max: amount(parts[3], "SINGLE_MAX")?,
            daily_max: amount(parts[4], "DAILY_MAX")?,
            step_up_threshold: match parts.get(5) {
                Some(text) => Some(amount(text, "STEP_UP")?),
                None => None,
            },
        };
        match self.tiers.iter_mut().find(|t| t.tier == tier) {
            Some(existing) if existing.name != parts[1] => Err(flag_error(
                "--tier",
                value,
                format!("tier {tier} is already named {:?}", existing.name),
            )),
            Some(existing) => {
                existing.limits.push(limit);
                Ok(())
            }
            None => {
                self.tiers.push(TierDoc {
                    tier,
                    name: parts[1].to_string(),
                    limits: vec![limit],
                });
                Ok(())
            }
        }
    }

    /// `--balance MEMBER:ASSET:AMOUNT`: the member's own account starts
    /// with AMOUNT minor units of ASSET.
    pub fn add_balance_flag(&mut self, value: &str) -> Result<(), AssembleError> {
        let parts: Vec<&str> = value.split(':').collect();
        let [member, asset, amount] = parts[..] else {
            return Err(flag_error(
                "--balance",
                value,
                "expected MEMBER:ASSET:AMOUNT, e.g. bank-a:CNY:100000000",
            ));
        };
        let amount = AmountDoc::Text(amount.to_string())
            .parse()
            .map(AmountDoc::from_u128)
            .ok_or_else(|| {
                flag_error("--balance", value, "AMOUNT is not an amount in minor units")
            })?;
        let previous = self
            .balances
            .entry(member.to_string())
            .or_default()
            .insert(asset.to_string(), amount);
        if previous.is_some() {
            return Err(flag_error(
                "--balance",
                value,
                format!("{member} already has a balance of {asset}"),
            ));
        }
        Ok(())
    }

    /// The genesis document: cards (labelled, for errors) in order, then
    /// the template. The result still goes through
    /// [`crate::Genesis::from_doc`], which checks the rest.
    pub fn assemble(&self, cards: &[(String, Card)]) -> Result<GenesisDoc, AssembleError> {
        if cards.is_empty() {
            return Err(AssembleError::NoCards);
        }
        let missing = |field: &str, flag: &str| AssembleError::Template {
            field: field.to_string(),
            problem: format!("is not set; give {flag} or set it in the template"),
        };
        let consortium = self
            .consortium
            .clone()
            .ok_or_else(|| missing("consortium", "--consortium"))?;
        let genesis_time_ms = self
            .genesis_time_ms
            .ok_or_else(|| missing("genesis_time_ms", "--genesis-time-ms"))?;
        if self.assets.is_empty() {
            return Err(missing("assets", "--asset CODE:DECIMALS:ISSUER"));
        }
        if self.tiers.is_empty() {
            return Err(missing(
                "tiers",
                "--tier TIER:NAME:ASSET:SINGLE_MAX:DAILY_MAX[:STEP_UP]",
            ));
        }

        // Names and keys must be distinct across cards; say which card
        // came first.
        let mut names: BTreeMap<&str, &str> = BTreeMap::new();
        let mut keys = BTreeMap::new();
        for (label, card) in cards {
            if let Some(first) = names.insert(&card.name, label) {
                return Err(CardError::invalid(
                    label,
                    "name",
                    CardProblem::DuplicateName {
                        name: card.name.clone(),
                        first: first.to_string(),
                    },
                )
                .into());
            }
            for (field, key) in [
                ("institution_key", card.institution_key),
                ("node_key", card.node_key),
            ] {
                if let Some(first) = keys.insert(key, format!("{label} ({field})")) {
                    return Err(CardError::invalid(
                        label,
                        field,
                        CardProblem::DuplicateKey {
                            key: key.to_hex(),
                            first,
                        },
                    )
                    .into());
                }
            }
        }
        for member in self.balances.keys() {
            let is_member = cards
                .iter()
                .any(|(_, c)| c.name == *member && c.role != CardRole::Regulator);
            if !is_member {
                return Err(AssembleError::Template {
                    field: format!("balances.{member}"),
                    problem: "no member card has this name".to_string(),
                });
            }
        }

        let mut members = Vec::new();
        let mut regulators = Vec::new();
        for (_, card) in cards {
            let role = match card.role {
                CardRole::Validator => Role::Validator,
                CardRole::Observer => Role::Observer,
                CardRole::Regulator => {
                    regulators.push(RegulatorDoc {
                        name: card.name.clone(),
                        key: card.institution_key.to_hex(),
                        node_key: card.node_key.to_hex(),
                        p2p_address: card.p2p_address.clone(),
                        identity: card.extras.identity.map(|i| crate::doc::IdentityDoc {
                            oprf_key: hex::encode(i.oprf_key),
                            hpke_key: hex::encode(i.hpke_key),
                        }),
                    });
                    continue;
                }
            };
            members.push(MemberDoc {
                name: card.name.clone(),
                institution_key: card.institution_key.to_hex(),
                node_key: card.node_key.to_hex(),
                role,
                p2p_address: card.p2p_address.clone(),
                memo_key: card.extras.memo_key.map(hex::encode),
                balances: self.balances.get(&card.name).cloned().unwrap_or_default(),
                fx_provider: false,
            });
        }
        Ok(GenesisDoc {
            consortium,
            utc_offset: self.utc_offset.clone().unwrap_or_else(|| "+08:00".into()),
            genesis_time_ms,
            dev_chain: self.dev_chain,
            settlement_cycle_seconds: None,
            members,
            regulators,
            assets: self.assets.clone(),
            tiers: self.tiers.clone(),
            accounts: self.accounts.clone(),
            governance: self.governance.clone(),
        })
    }
}

/// Checks that `genesis` lists `card` exactly as the member signed it
/// (keys, role and address) and returns where: `members[i]` or
/// `regulators[i]`.
pub fn check_listed(genesis: &crate::Genesis, card: &Card) -> Result<String, String> {
    use crate::validate::MemberRole;
    let (path, institution_key, node_key, role, address) = if card.role == CardRole::Regulator {
        let Some((i, r)) = genesis
            .regulators
            .iter()
            .enumerate()
            .find(|(_, r)| r.name == card.name)
        else {
            return Err(format!("genesis lists no regulator named {:?}", card.name));
        };
        (
            format!("regulators[{i}]"),
            r.key,
            r.node_key,
            CardRole::Regulator,
            &r.p2p_address,
        )
    } else {
        let Some((i, m)) = genesis
            .members
            .iter()
            .enumerate()
            .find(|(_, m)| m.name == card.name)
        else {
            return Err(format!("genesis lists no member named {:?}", card.name));
        };
        let role = match m.role {
            MemberRole::Validator => CardRole::Validator,
            MemberRole::Observer => CardRole::Observer,
        };
        (
            format!("members[{i}]"),
            m.institution_key,
            m.node_key,
            role,
            &m.p2p_address,
        )
    };
    let differs = |what: &str, listed: String, card_value: String| {
        Err(format!(
            "{path} ({}) has {what} {listed}, the card says {card_value}",
            card.name
        ))
    };
    if institution_key != card.institution_key {
        return differs(
            "institution key",
            institution_key.to_hex(),
            card.institution_key.to_hex(),
        );
    }
    if node_key != card.node_key {
        return differs("node key", node_key.to_hex(), card.node_key.to_hex());
    }
    if role != card.role {
        return differs("role", role.name().into(), card.role.name().into());
    }
    if *address != card.p2p_address {
        return differs(
            "p2p address",
            format!("{address:?}"),
            format!("{:?}", card.p2p_address),
        );
    }
    // The identity layer's keys the card asks for.
    if card.role == CardRole::Regulator {
        if let Some(asked) = card.extras.identity {
            if genesis.params.identity != Some(asked) {
                return differs(
                    "identity service",
                    format!(
                        "{:?}",
                        genesis.params.identity.map(|i| hex::encode(i.oprf_key))
                    ),
                    hex::encode(asked.oprf_key),
                );
            }
        }
    } else if let Some(asked) = card.extras.memo_key {
        let listed = genesis
            .members
            .iter()
            .find(|m| m.name == card.name)
            .and_then(|m| m.memo_key);
        if listed != Some(asked) {
            return differs(
                "memo key",
                format!("{:?}", listed.map(hex::encode)),
                hex::encode(asked),
            );
        }
    }
    Ok(path)
}
