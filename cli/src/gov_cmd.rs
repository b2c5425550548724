//! `hutong gov …`: governance by vote. Proposals, votes and withdrawals
//! are transactions signed with a member's institution key; `list`,
//! `show` and `params` read the node's view of the consortium.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use hutong_genesis::card::CardRole;
use hutong_node::client::Client;
use hutong_node::keyfile;
use hutong_runtime::governance::{Action, ConsensusTiming, MemberRole, VOTING_PERIOD_MAX_MS};
use hutong_runtime::state::AssetLimits;
use hutong_runtime::{Amount, AssetCode, PublicKey, Tier, TxKind};
use hutong_wire::gov::{ActionView, ProposalView, ProposalsQuery};
use serde::Deserialize;

use crate::audit_cmd::time::{parse_duration_ms, render_time};
use crate::genesis_cmd::read_card;
use crate::out::say;
use crate::tx_cmd::{asset, decimals_of, parse_amount, runtime, send};

#[derive(Args)]
pub struct GovArgs {
    /// The node's JSON-RPC address.
    #[arg(long, default_value = "http://127.0.0.1:8545", global = true)]
    rpc: String,
    #[command(subcommand)]
    command: GovCommand,
}

#[derive(Args)]
struct Signing {
    /// The member's institution key file (a regulator's key where genesis
    /// gives regulators a vote or a veto).
    #[arg(long)]
    key: PathBuf,
    /// Wait until the transaction is final and print its receipt.
    #[arg(long)]
    wait: bool,
}

#[derive(Subcommand)]
enum GovCommand {
    /// Propose one change (a subcommand) or an ordered list of changes
    /// that execute all or none (--file). Proposing counts as approving.
    Propose {
        #[command(flatten)]
        signing: Signing,
        /// How long the vote stays open, in block time: 90m, 2h, 7d.
        #[arg(long, default_value = "7d")]
        voting_period: String,
        /// A TOML file of actions, `[[actions]]` with `type = "add_member"`
        /// and the fields `hutong gov show` prints.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(subcommand)]
        action: Option<ActionCommand>,
    },
    /// Approve or reject an open proposal (a later vote replaces yours).
    Vote {
        #[command(flatten)]
        signing: Signing,
        proposal: u64,
        /// approve or reject.
        verdict: String,
    },
    /// Withdraw your own open proposal.
    Withdraw {
        #[command(flatten)]
        signing: Signing,
        proposal: u64,
    },
    /// Proposals, newest first: status, tally, deadline, what they do.
    List {
        /// Only this status: open, expired, executed, rejected, withdrawn
        /// or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One proposal in full: actions, tally, who voted, what will happen.
    Show { proposal: u64 },
    /// The consortium as the ledger holds it: members, regulators, epoch,
    /// voting rules, timing, tiers.
    Params,
}

#[derive(Subcommand)]
enum ActionCommand {
    /// Admit a member from its card (`hutong keys card`).
    AddMember {
        #[arg(long, value_name = "CARD")]
        card: PathBuf,
    },
    RemoveMember {
        name: String,
    },
    /// validator or observer.
    SetRole {
        name: String,
        role: String,
    },
    /// A member's new node key (public, hex): from `hutong keys show`.
    RotateNodeKey {
        name: String,
        #[arg(long)]
        node_key: String,
    },
    /// A member's new institution key (public, hex); its account keeps its
    /// address, and the old key stops signing when this executes.
    RotateInstitutionKey {
        name: String,
        #[arg(long)]
        institution_key: String,
    },
    /// Admit a regulator from its card (role regulator).
    AddRegulator {
        #[arg(long, value_name = "CARD")]
        card: PathBuf,
    },
    RemoveRegulator {
        name: String,
    },
    AddAsset {
        #[arg(long)]
        code: String,
        #[arg(long)]
        decimals: u8,
        /// The issuing member's name.
        #[arg(long)]
        issuer: String,
    },
    /// One asset's limits in a tier, in units of the asset ("5000.00").
    SetTierLimits {
        #[arg(long)]
        tier: u8,
        /// The tier's name (used if the tier is new).
        #[arg(long)]
        name: String,
        #[arg(long)]
        asset: String,
        #[arg(long)]
        single_max: String,
        #[arg(long)]
        daily_max: String,
        #[arg(long)]
        step_up: Option<String>,
    },
    /// Consensus timing; unset fields keep their current value.
    SetTiming {
        #[arg(long)]
        base_timeout_ms: Option<u64>,
        #[arg(long)]
        max_timeout_ms: Option<u64>,
        #[arg(long)]
        min_block_interval_ms: Option<u64>,
        #[arg(long)]
        empty_block_interval_ms: Option<u64>,
    },
    /// Make a member an FX provider (its signed quotes settle payments
    /// versus payments), or end that with --disable.
    SetFxProvider {
        name: String,
        #[arg(long)]
        disable: bool,
    },
}

/// An actions file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionsFile {
    actions: Vec<ActionView>,
}

pub fn gov(args: GovArgs) -> Result<()> {
    runtime()?.block_on(async move {
        let client = Client::new(&args.rpc)?;
        match args.command {
            GovCommand::Propose {
                signing,
                voting_period,
                file,
                action,
            } => {
                let period = parse_duration_ms(&voting_period)?;
                if period > VOTING_PERIOD_MAX_MS {
                    bail!("--voting-period {voting_period}: at most 90 days");
                }
                let actions = match (file, action) {
                    (Some(_), Some(_)) => {
                        bail!("give an action (a subcommand) or --file, not both")
                    }
                    (Some(path), None) => {
                        let text = std::fs::read_to_string(&path)
                            .with_context(|| format!("cannot read {}", path.display()))?;
                        let file: ActionsFile = toml::from_str(&text)
                            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
                        file.actions
                            .iter()
                            .enumerate()
                            .map(|(i, v)| {
                                action_of_view(v)
                                    .with_context(|| format!("{}: actions[{i}]", path.display()))
                            })
                            .collect::<Result<Vec<_>>>()?
                    }
                    (None, Some(a)) => vec![action_of_command(&client, a).await?],
                    (None, None) => bail!("give an action (a subcommand) or --file"),
                };
                let kind = TxKind::Propose {
                    actions,
                    voting_period_ms: period,
                };
                sign_send(&client, &signing, kind).await
            }
            GovCommand::Vote {
                signing,
                proposal,
                verdict,
            } => {
                let approve = match verdict.as_str() {
                    "approve" | "yes" => true,
                    "reject" | "no" => false,
                    other => bail!("{other:?}: say approve or reject"),
                };
                sign_send(&client, &signing, TxKind::Vote { proposal, approve }).await
            }
            GovCommand::Withdraw { signing, proposal } => {
                sign_send(&client, &signing, TxKind::Withdraw { proposal }).await
            }
            GovCommand::List { status, limit } => {
                let page = client
                    .proposals(&ProposalsQuery {
                        status,
                        before: None,
                        limit: Some(limit),
                    })
                    .await?;
                if page.proposals.is_empty() {
                    say!("no proposals");
                }
                say!(
                    "{:>4}  {:<9}  {:<13}  {:<20}  what",
                    "id",
                    "status",
                    "approvals",
                    "deadline (UTC)"
                );
                for p in &page.proposals {
                    say!(
                        "{:>4}  {:<9}  {:<13}  {:<20}  {}",
                        p.id,
                        p.status,
                        format!(
                            "{}/{} of {}",
                            p.tally.approvals, p.tally.needed, p.tally.voters
                        ),
                        render_time(p.deadline_ms),
                        summary(p)
                    );
                }
                Ok(())
            }
            GovCommand::Show { proposal } => {
                let p = client.proposal(proposal).await?;
                say!("{}", serde_json::to_string_pretty(&p)?);
                let status = client.status().await?;
                for (i, a) in p.actions.iter().enumerate() {
                    if let ActionView::SetTierLimits { tier, name, limits } = a {
                        say!(
                            "action {i}: tier {tier} ({name}) {}",
                            limits_text(limits, decimals_of(&status, &limits.asset).ok())
                        );
                    }
                }
                say!(
                    "proposal {} is {}: {} of {} voters approve, {} needed{}",
                    p.id,
                    p.status,
                    p.tally.approvals,
                    p.tally.voters,
                    p.tally.needed,
                    if p.changes_validators && p.status == "open" {
                        "; if it passes, the validator set changes a few blocks later, when a block certifies the vote's result (a new epoch)"
                    } else {
                        ""
                    }
                );
                Ok(())
            }
            GovCommand::Params => {
                let params = client.parameters().await?;
                say!("{}", serde_json::to_string_pretty(&params)?);
                let status = client.status().await?;
                for t in &params.tiers {
                    for l in &t.limits {
                        say!(
                            "tier {} ({}) {}",
                            t.tier,
                            t.name,
                            limits_text(l, decimals_of(&status, &l.asset).ok())
                        );
                    }
                }
                Ok(())
            }
        }
    })
}

async fn sign_send(client: &Client, signing: &Signing, kind: TxKind) -> Result<()> {
    let key = keyfile::read(&signing.key)?;
    let status = client.status().await?;
    send(
        client,
        &status,
        &key,
        None,
        kind,
        1_000,
        Vec::new(),
        signing.wait,
    )
    .await
}

fn summary(p: &ProposalView) -> String {
    let names: Vec<String> = p
        .actions
        .iter()
        .map(|a| match a {
            ActionView::AddMember { name, role, .. } => format!("add {role} {name}"),
            ActionView::RemoveMember { name } => format!("remove {name}"),
            ActionView::SetRole { name, role } => format!("{name} becomes {role}"),
            ActionView::RotateNodeKey { name, .. } => format!("rotate {name}'s node key"),
            ActionView::RotateInstitutionKey { name, .. } => {
                format!("rotate {name}'s institution key")
            }
            ActionView::AddRegulator { name, .. } => format!("add regulator {name}"),
            ActionView::RemoveRegulator { name } => format!("remove regulator {name}"),
            ActionView::AddAsset { code, issuer, .. } => format!("add asset {code} ({issuer})"),
            ActionView::SetTierLimits { tier, limits, .. } => {
                format!("tier {tier} {} limits", limits.asset)
            }
            ActionView::SetConsensusTiming { .. } => "consensus timing".into(),
            ActionView::SetFxProvider {
                name,
                enabled: true,
            } => format!("{name} quotes FX"),
            ActionView::SetFxProvider {
                name,
                enabled: false,
            } => format!("{name} stops quoting FX"),
        })
        .collect();
    names.join("; ")
}

/// Minor units as a person reads them: "10,000.00 CNY" (or the minor
/// units, marked so, for an asset the node does not know yet).
fn money(minor: &str, asset: &str, decimals: Option<u32>) -> String {
    let (Some(d), Ok(v)) = (decimals, minor.parse::<u128>()) else {
        return format!("{minor} minor units of {asset}");
    };
    let unit = 10u128.pow(d);
    let whole = (v / unit).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    if d == 0 {
        format!("{grouped} {asset}")
    } else {
        format!("{grouped}.{:0width$} {asset}", v % unit, width = d as usize)
    }
}

fn limits_text(l: &hutong_wire::gov::LimitsView, decimals: Option<u32>) -> String {
    let mut text = format!(
        "single {}, daily {}",
        money(&l.single_max, &l.asset, decimals),
        money(&l.daily_max, &l.asset, decimals)
    );
    if let Some(t) = &l.step_up_threshold {
        text.push_str(&format!(", step-up above {}", money(t, &l.asset, decimals)));
    }
    text
}

fn public_key(text: &str, what: &str) -> Result<PublicKey> {
    PublicKey::from_hex(text).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

fn role(text: &str) -> Result<MemberRole> {
    match text {
        "validator" => Ok(MemberRole::Validator),
        "observer" => Ok(MemberRole::Observer),
        other => bail!("{other:?}: a member's role is validator or observer"),
    }
}

fn minor(text: &str, what: &str) -> Result<Amount> {
    text.parse::<u128>()
        .map(Amount)
        .map_err(|_| anyhow::anyhow!("{what} {text:?} is not an amount in minor units"))
}

/// An action from a file (the JSON views' shapes; amounts in minor units).
fn action_of_view(v: &ActionView) -> Result<Action> {
    Ok(match v {
        ActionView::AddMember {
            name,
            institution_key,
            node_key,
            role: r,
            p2p_address,
        } => Action::AddMember {
            name: name.clone(),
            institution_key: public_key(institution_key, "institution_key")?,
            node_key: public_key(node_key, "node_key")?,
            role: role(r)?,
            p2p_address: p2p_address.clone(),
        },
        ActionView::RemoveMember { name } => Action::RemoveMember { name: name.clone() },
        ActionView::SetRole { name, role: r } => Action::SetRole {
            name: name.clone(),
            role: role(r)?,
        },
        ActionView::RotateNodeKey { name, node_key } => Action::RotateNodeKey {
            name: name.clone(),
            node_key: public_key(node_key, "node_key")?,
        },
        ActionView::RotateInstitutionKey {
            name,
            institution_key,
        } => Action::RotateInstitutionKey {
            name: name.clone(),
            institution_key: public_key(institution_key, "institution_key")?,
        },
        ActionView::AddRegulator {
            name,
            key,
            node_key,
            p2p_address,
        } => Action::AddRegulator {
            name: name.clone(),
            key: public_key(key, "key")?,
            node_key: public_key(node_key, "node_key")?,
            p2p_address: p2p_address.clone(),
        },
        ActionView::RemoveRegulator { name } => Action::RemoveRegulator { name: name.clone() },
        ActionView::AddAsset {
            code,
            decimals,
            issuer,
        } => Action::AddAsset {
            code: AssetCode::new(code).map_err(|e| anyhow::anyhow!("code {code:?}: {e}"))?,
            decimals: *decimals,
            issuer: issuer.clone(),
        },
        ActionView::SetTierLimits { tier, name, limits } => Action::SetTierLimits {
            tier: Tier(*tier),
            name: name.clone(),
            limits: AssetLimits {
                asset: asset(&limits.asset)?,
                single_max: minor(&limits.single_max, "single_max")?,
                daily_max: minor(&limits.daily_max, "daily_max")?,
                step_up_threshold: limits
                    .step_up_threshold
                    .as_deref()
                    .map(|t| minor(t, "step_up_threshold"))
                    .transpose()?,
            },
        },
        ActionView::SetConsensusTiming { timing } => Action::SetConsensusTiming {
            timing: ConsensusTiming {
                base_timeout_ms: timing.base_timeout_ms,
                max_timeout_ms: timing.max_timeout_ms,
                min_block_interval_ms: timing.min_block_interval_ms,
                empty_block_interval_ms: timing.empty_block_interval_ms,
            },
        },
        ActionView::SetFxProvider { name, enabled } => Action::SetFxProvider {
            name: name.clone(),
            enabled: *enabled,
        },
    })
}

async fn action_of_command(client: &Client, a: ActionCommand) -> Result<Action> {
    Ok(match a {
        ActionCommand::AddMember { card } => {
            let c = read_card(&card)?;
            let role = match c.role {
                CardRole::Validator => MemberRole::Validator,
                CardRole::Observer => MemberRole::Observer,
                CardRole::Regulator => bail!(
                    "{}: a regulator's card; use `gov propose add-regulator`",
                    card.display()
                ),
            };
            Action::AddMember {
                name: c.name,
                institution_key: c.institution_key,
                node_key: c.node_key,
                role,
                p2p_address: c.p2p_address,
            }
        }
        ActionCommand::RemoveMember { name } => Action::RemoveMember { name },
        ActionCommand::SetRole { name, role: r } => Action::SetRole {
            name,
            role: role(&r)?,
        },
        ActionCommand::RotateNodeKey { name, node_key } => Action::RotateNodeKey {
            name,
            node_key: public_key(&node_key, "--node-key")?,
        },
        ActionCommand::RotateInstitutionKey {
            name,
            institution_key,
        } => Action::RotateInstitutionKey {
            name,
            institution_key: public_key(&institution_key, "--institution-key")?,
        },
        ActionCommand::AddRegulator { card } => {
            let c = read_card(&card)?;
            if c.role != CardRole::Regulator {
                bail!(
                    "{}: a {}'s card, not a regulator's",
                    card.display(),
                    c.role.name()
                );
            }
            Action::AddRegulator {
                name: c.name,
                key: c.institution_key,
                node_key: c.node_key,
                p2p_address: c.p2p_address,
            }
        }
        ActionCommand::RemoveRegulator { name } => Action::RemoveRegulator { name },
        ActionCommand::AddAsset {
            code,
            decimals,
            issuer,
        } => Action::AddAsset {
            code: asset(&code)?,
            decimals,
            issuer,
        },
        ActionCommand::SetTierLimits {
            tier,
            name,
            asset: a,
            single_max,
            daily_max,
            step_up,
        } => {
            let status = client.status().await?;
            let decimals = decimals_of(&status, &a)?;
            Action::SetTierLimits {
                tier: Tier(tier),
                name,
                limits: AssetLimits {
                    asset: asset(&a)?,
                    single_max: parse_amount(&single_max, decimals)?,
                    daily_max: parse_amount(&daily_max, decimals)?,
                    step_up_threshold: step_up
                        .as_deref()
                        .map(|s| parse_amount(s, decimals))
                        .transpose()?,
                },
            }
        }
        ActionCommand::SetTiming {
            base_timeout_ms,
            max_timeout_ms,
            min_block_interval_ms,
            empty_block_interval_ms,
        } => {
            let now = client.parameters().await?.timing;
            Action::SetConsensusTiming {
                timing: ConsensusTiming {
                    base_timeout_ms: base_timeout_ms.unwrap_or(now.base_timeout_ms),
                    max_timeout_ms: max_timeout_ms.unwrap_or(now.max_timeout_ms),
                    min_block_interval_ms: min_block_interval_ms
                        .unwrap_or(now.min_block_interval_ms),
                    empty_block_interval_ms: empty_block_interval_ms
                        .unwrap_or(now.empty_block_interval_ms),
                },
            }
        }
        ActionCommand::SetFxProvider { name, disable } => Action::SetFxProvider {
            name,
            enabled: !disable,
        },
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn money_reads_as_decimals_with_the_asset() {
        assert_eq!(super::money("1000000", "CNY", Some(2)), "10,000.00 CNY");
        assert_eq!(super::money("2888000", "CNY", Some(2)), "28,880.00 CNY");
        assert_eq!(super::money("5", "HKD", Some(2)), "0.05 HKD");
        assert_eq!(super::money("1234567", "PTS", Some(0)), "1,234,567 PTS");
        assert_eq!(super::money("7", "USD", None), "7 minor units of USD");
    }
}
