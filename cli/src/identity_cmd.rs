//! `hutong identity`: the institution's side of identity tags (blind,
//! ask the regulator's node, check its proof, unblind), and the sealing of
//! a tag to the regulator that `hutong tx open-account --identity` does.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hutong_node::client::Client;
use hutong_node::keyfile;
use hutong_runtime::crypto::Hash;
use hutong_runtime::{Keypair, PublicKey};

use crate::out::say;
use crate::tx_cmd::runtime;

#[derive(Args)]
pub struct IdentityArgs {
    #[command(subcommand)]
    command: IdentityCommand,
}

#[derive(Subcommand)]
enum IdentityCommand {
    /// Obtain customers' identity tags from the regulator's node: each
    /// identity is blinded here, evaluated there (the node learns nothing
    /// about it), checked against the regulator's public key in the
    /// ledger's parameters, and unblinded. Prints, per identity, the key
    /// under which the shared blacklist would list it (for `hutong
    /// blacklist check`), and with --show-tag the tag itself (a secret of
    /// the institution's KYC record: anyone holding it can recognise the
    /// customer's accounts in the regulator's answers).
    Tag {
        /// TYPE:NUMBER (CN_RIC:…, HK_ID:…, PASSPORT_CN:…); repeat for up to
        /// 64 in one request.
        #[arg(long = "identity", required = true)]
        identities: Vec<String>,
        /// The institution key file that signs the request.
        #[arg(long)]
        key: PathBuf,
        /// A node of the chain, for the regulator's public keys.
        #[arg(long, default_value = "http://127.0.0.1:8545")]
        rpc: String,
        /// The regulator's node that evaluates tags.
        #[arg(long)]
        regulator_rpc: String,
        /// Print the tags too.
        #[arg(long)]
        show_tag: bool,
        /// One JSON object per identity instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn identity(args: IdentityArgs) -> Result<()> {
    match args.command {
        IdentityCommand::Tag {
            identities,
            key,
            rpc,
            regulator_rpc,
            show_tag,
            json,
        } => {
            let key = keyfile::read(&key)?;
            runtime()?.block_on(async move {
                let client = Client::new(&rpc)?;
                let tags = tags(&client, &regulator_rpc, &key, &identities).await?;
                for (identity, tag) in identities.iter().zip(&tags) {
                    let listing = tag.listing_key().to_hex();
                    if json {
                        let mut v = serde_json::json!({
                            "identity_type": identity.split(':').next().unwrap_or(""),
                            "listing_key": listing,
                        });
                        if show_tag {
                            v["tag"] = hex::encode(tag.0).into();
                        }
                        say!("{v}");
                    } else {
                        let kind = identity.split(':').next().unwrap_or("");
                        say!("{kind}:…  listing key {listing}");
                        if show_tag {
                            say!("  tag {}", hex::encode(tag.0));
                        }
                    }
                }
                Ok(())
            })
        }
    }
}

/// The regulator's OPRF and HPKE public keys, as the ledger's parameters
/// hold them (never as the evaluating node says).
async fn service_keys(client: &Client) -> Result<([u8; 32], [u8; 32])> {
    let params = client.parameters().await?;
    let Some(service) = params.identity else {
        anyhow::bail!(
            "this chain runs no identity service (its genesis names no regulator identity keys); \
             open accounts with --id-type and --id-number"
        );
    };
    let oprf = hutong_privacy::hex_array::<32>("OPRF key", &service.oprf_key)?;
    let hpke = hutong_privacy::hex_array::<32>("HPKE key", &service.hpke_key)?;
    Ok((oprf, hpke))
}

/// The identity tags of `identities`, obtained from the regulator's node
/// at `regulator_rpc` and checked against the keys `client`'s chain
/// publishes.
pub async fn tags(
    client: &Client,
    regulator_rpc: &str,
    key: &Keypair,
    identities: &[String],
) -> Result<Vec<hutong_privacy::IdentityTag>> {
    let (oprf, _) = service_keys(client).await?;
    let regulator = Client::new(regulator_rpc)?;
    let mut out = Vec::with_capacity(identities.len());
    for chunk in identities.chunks(hutong_privacy::oprf::BATCH_MAX) {
        out.extend(
            regulator
                .identity_tags(key, &oprf, chunk)
                .await
                .with_context(|| format!("obtaining identity tags from {regulator_rpc}"))?,
        );
    }
    Ok(out)
}

/// The commitment and envelope of a new account's identity: the tag
/// obtained from the regulator's node, sealed with a fresh salt to the
/// regulator's HPKE key for `owner`'s account on `client`'s chain.
pub async fn seal_identity(
    client: &Client,
    regulator_rpc: &str,
    key: &Keypair,
    owner: &PublicKey,
    identity: &str,
) -> Result<(Hash, Vec<u8>)> {
    let (_, hpke) = service_keys(client).await?;
    let tag = tags(client, regulator_rpc, key, &[identity.to_string()])
        .await?
        .pop()
        .context("the regulator's node answered no tag")?;
    let chain = client.chain_id().await?;
    let salt: [u8; 32] = rand::random();
    let (envelope, commitment) = hutong_privacy::envelope::seal_identity(
        &hpke,
        &chain.0,
        &owner.0,
        &tag,
        &salt,
        &mut rand::rngs::OsRng,
    )?;
    say!(
        "identity tag obtained from the regulator's node and verified; sealed to the regulator \
         (commitment {}, salt {}: keep the salt with the KYC record)",
        commitment.to_hex(),
        hex::encode(salt)
    );
    Ok((commitment, envelope))
}

/// Which identity a blacklist command is about.
#[derive(Args)]
struct Target {
    /// The person's identity, TYPE:NUMBER: its tag is obtained from the
    /// regulator's node first (needs --key and --regulator-rpc).
    #[arg(
        long,
        conflicts_with = "listing_key",
        required_unless_present = "listing_key"
    )]
    identity: Option<String>,
    /// The listing key itself (64 hex digits), as `hutong identity tag`
    /// prints it.
    #[arg(long)]
    listing_key: Option<String>,
    /// The regulator's node that evaluates identity tags, with --identity.
    #[arg(long)]
    regulator_rpc: Option<String>,
}

#[derive(Args)]
pub struct BlacklistArgs {
    /// A node of the chain.
    #[arg(long, default_value = "http://127.0.0.1:8545", global = true)]
    rpc: String,
    #[command(subcommand)]
    command: BlacklistCommand,
}

#[derive(Subcommand)]
enum BlacklistCommand {
    /// List an identity on the shared blacklist (a member institution or a
    /// regulator; a transaction with a receipt).
    Add {
        #[command(flatten)]
        target: Target,
        /// The institution's (or regulator's) key file that signs.
        #[arg(long)]
        key: PathBuf,
        /// fraud, legal-order, regulatory, customer-request or other.
        #[arg(long, default_value = "fraud")]
        reason: String,
        /// The authority's reference (a court order's or case number; at
        /// most 64 bytes).
        #[arg(long, default_value = "")]
        reference: String,
        /// Wait until final and print the receipt.
        #[arg(long)]
        wait: bool,
    },
    /// Remove an identity from the blacklist (its lister, or a regulator).
    Remove {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        wait: bool,
    },
    /// Whether an identity is listed: the one answer, nothing else.
    Check {
        #[command(flatten)]
        target: Target,
        /// The institution key file that signs the tag request, with
        /// --identity.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The node's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// The listing key a blacklist command names.
async fn listing_key(client: &Client, target: &Target, key: Option<&Keypair>) -> Result<Hash> {
    match (&target.identity, &target.listing_key) {
        (_, Some(k)) => Hash::from_hex(k).map_err(|e| anyhow::anyhow!("--listing-key: {e}")),
        (Some(identity), None) => {
            let regulator = target.regulator_rpc.as_deref().context(
                "--identity needs --regulator-rpc (the regulator's node evaluates tags)",
            )?;
            let key = key.context("--identity needs --key (the institution key that asks)")?;
            let tag = tags(client, regulator, key, std::slice::from_ref(identity))
                .await?
                .pop()
                .context("the regulator's node answered no tag")?;
            Ok(tag.listing_key())
        }
        (None, None) => anyhow::bail!("give --identity or --listing-key"),
    }
}

pub fn blacklist(args: BlacklistArgs) -> Result<()> {
    runtime()?.block_on(async move {
        let client = Client::new(&args.rpc)?;
        match args.command {
            BlacklistCommand::Add {
                target,
                key,
                reason,
                reference,
                wait,
            } => {
                let key = keyfile::read(&key)?;
                let listing_key = listing_key(&client, &target, Some(&key)).await?;
                let kind = hutong_runtime::TxKind::ListIdentity {
                    listing_key,
                    reason: crate::tx_cmd::freeze_reason(&reason)?,
                    reference: crate::tx_cmd::reference_arg(&reference)?,
                };
                say!("listing {listing_key}");
                let status = client.status().await?;
                crate::tx_cmd::send(&client, &status, &key, None, kind, 1_000, Vec::new(), wait)
                    .await
            }
            BlacklistCommand::Remove { target, key, wait } => {
                let key = keyfile::read(&key)?;
                let listing_key = listing_key(&client, &target, Some(&key)).await?;
                let kind = hutong_runtime::TxKind::DelistIdentity { listing_key };
                say!("delisting {listing_key}");
                let status = client.status().await?;
                crate::tx_cmd::send(&client, &status, &key, None, kind, 1_000, Vec::new(), wait)
                    .await
            }
            BlacklistCommand::Check { target, key, json } => {
                let key = key.as_deref().map(keyfile::read).transpose()?;
                let listing_key = listing_key(&client, &target, key.as_ref()).await?;
                let view = client.check_listing(&listing_key).await?;
                if json {
                    say!("{}", serde_json::to_string_pretty(&view)?);
                } else if view.listed {
                    say!(
                        "LISTED (height {}): by {}, reason {}, reference {:?}, since {} ms",
                        view.height,
                        view.listed_by.as_deref().unwrap_or("?"),
                        view.reason.as_deref().unwrap_or("?"),
                        view.reference.as_deref().unwrap_or(""),
                        view.listed_at_ms.unwrap_or(0)
                    );
                } else {
                    say!("not listed (height {})", view.height);
                }
                Ok(())
            }
        }
    })
}
