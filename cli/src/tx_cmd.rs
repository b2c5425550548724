//! `hutong tx …` (sign, submit, wait for finality) and `hutong query …`.

use crate::out::say;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use hutong_node::client::Client;
use hutong_node::keyfile;
use hutong_runtime::crypto::Hash;
use hutong_runtime::hold::AccountState;
use hutong_runtime::tx::{Expiry, FreezeReason};
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Height, Nonce, PublicKey, Tier, TimestampMs, Transaction,
    TransferId, TxKind,
};
use hutong_wire::rpc::StatusView;

#[derive(Args)]
pub struct Common {
    /// The node's JSON-RPC address.
    #[arg(long, default_value = "http://127.0.0.1:8545", global = true)]
    rpc: String,
}

#[derive(Args)]
pub struct TxArgs {
    #[command(flatten)]
    common: Common,
    /// The signing key file (the sender).
    #[arg(long)]
    key: PathBuf,
    /// The institution key that co-signs (step-up for large transfers).
    #[arg(long, global = true)]
    cosigner_key: Option<PathBuf>,
    /// Wait until the transaction is final and print its receipt.
    #[arg(long, global = true)]
    wait: bool,
    /// How many blocks from now the transaction stays valid.
    #[arg(long, default_value_t = 1_000, global = true)]
    valid_for_blocks: u64,
    /// Free text for the counterparty (at most 256 bytes).
    #[arg(long, default_value = "", global = true)]
    memo: String,
    #[command(subcommand)]
    kind: TxCommand,
}

#[derive(Subcommand)]
pub enum TxCommand {
    /// Pay `amount` of `asset` to an address.
    Transfer {
        #[arg(long)]
        to: String,
        #[arg(long)]
        asset: String,
        /// In units of the asset ("12.34"), using its decimals.
        #[arg(long)]
        amount: String,
        /// The wallet's own id for the payment (idempotency); random if omitted.
        #[arg(long)]
        transfer_id: Option<u128>,
    },
    /// Open an account for a customer (sent by the member institution).
    /// On a chain with an identity service, `--identity` and
    /// `--regulator-rpc` obtain the customer's identity tag from the
    /// regulator's node (blinded: it learns nothing) and seal it to the
    /// regulator; the identity itself never leaves this machine.
    OpenAccount {
        /// The customer's public key (hex).
        #[arg(long)]
        owner: String,
        #[arg(long)]
        tier: u8,
        /// The customer's identity document, TYPE:NUMBER (CN_RIC:…,
        /// HK_ID:…, PASSPORT_CN:…), on a chain with an identity service.
        #[arg(long, requires = "regulator_rpc", conflicts_with_all = ["id_type", "identity_commitment"])]
        identity: Option<String>,
        /// The JSON-RPC address of the regulator's node that evaluates
        /// identity tags (http://host:port).
        #[arg(long)]
        regulator_rpc: Option<String>,
        /// The customer's identity document type (CN_RIC, HK_ID,
        /// PASSPORT_CN, …; sdk/SPEC.md 7): with --id-number, the
        /// commitment is formed by the published rule.
        #[arg(long, requires = "id_number", conflicts_with = "identity_commitment")]
        id_type: Option<String>,
        /// The document's number, as written on it (spaces, '-', '/' and
        /// brackets are removed, letters upper-cased).
        #[arg(long, requires = "id_type")]
        id_number: Option<String>,
        /// The commitment's salt, 64 hex digits; random if omitted, and
        /// printed: keep it with the KYC record.
        #[arg(long, requires = "id_type")]
        identity_salt: Option<String>,
        /// A commitment formed elsewhere (64 hex digits); zero if neither
        /// this nor --id-type is given.
        #[arg(long)]
        identity_commitment: Option<String>,
    },
    Freeze {
        #[arg(long)]
        account: String,
        /// fraud, legal-order, regulatory, customer-request or other.
        #[arg(long, default_value = "other")]
        reason: String,
    },
    Unfreeze {
        #[arg(long)]
        account: String,
    },
    Mint {
        #[arg(long)]
        to: String,
        #[arg(long)]
        asset: String,
        #[arg(long)]
        amount: String,
    },
    Burn {
        #[arg(long)]
        asset: String,
        #[arg(long)]
        amount: String,
    },
    /// Reserve `amount` for a payee until the hold expires (an EV charger,
    /// a pre-authorisation): the payee captures what was used, or voids.
    Hold {
        #[arg(long)]
        to: String,
        #[arg(long)]
        asset: String,
        /// In units of the asset ("200.00").
        #[arg(long)]
        amount: String,
        /// The hold's id (32 hex digits; one of the payer's transfer ids);
        /// random if omitted, and printed.
        #[arg(long)]
        hold_id: Option<String>,
        /// Seconds until it expires and releases itself (at most 7 days).
        #[arg(long, default_value_t = 3_600)]
        expires_in: u64,
    },
    /// Capture a hold (the payee, or the payer): `amount` moves, the rest
    /// is released.
    Capture {
        #[arg(long)]
        payer: String,
        #[arg(long)]
        hold_id: String,
        /// In units of the hold's asset.
        #[arg(long)]
        amount: String,
    },
    /// Release a hold without moving anything (the payee).
    Void {
        #[arg(long)]
        payer: String,
        #[arg(long)]
        hold_id: String,
    },
    /// Freeze part of an account's balance (its institution, or a
    /// regulator).
    FreezeAmount {
        #[arg(long)]
        account: String,
        #[arg(long)]
        asset: String,
        #[arg(long)]
        amount: String,
        /// fraud, legal-order, regulatory, customer-request or other.
        #[arg(long, default_value = "legal-order")]
        reason: String,
        /// The order's reference (a court case number), at most 64 bytes.
        #[arg(long, default_value = "")]
        reference: String,
        /// The freeze's id on the account; random if omitted, and printed.
        #[arg(long)]
        freeze_id: Option<u64>,
        /// Seconds until it lifts itself; none if omitted.
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// Lift an amount freeze (a regulator's only by a regulator).
    ReleaseFreeze {
        #[arg(long)]
        account: String,
        #[arg(long)]
        freeze_id: u64,
    },
    /// Let a device key (an EV, a meter) sign holds and captures for this
    /// account, within a scope (the sender is the account's owner).
    RegisterDevice {
        /// The device's public key (hex; `hutong keys show`).
        #[arg(long)]
        device_key: String,
        #[arg(long)]
        asset: String,
        /// Most per hold, in units of the asset.
        #[arg(long)]
        max_per_hold: String,
        /// Most held per day, in units of the asset.
        #[arg(long)]
        daily_max: String,
        /// A payee it may hold for (repeat; any payee if none).
        #[arg(long)]
        payee: Vec<String>,
    },
    /// Revoke a device key (the account's owner).
    RevokeDevice {
        #[arg(long)]
        device_key: String,
    },
    /// The sender's payment operations, all or none (at most 8 legs, in
    /// order): `--leg transfer:TO:ASSET:AMOUNT`,
    /// `--leg hold:TO:ASSET:AMOUNT:EXPIRES_IN_SECONDS`,
    /// `--leg capture:PAYER:HOLD_ID:AMOUNT`, `--leg void:PAYER:HOLD_ID`.
    /// Transfer and hold ids are random, and printed.
    Linked {
        #[arg(long = "leg", required = true)]
        legs: Vec<String>,
    },
    /// Payment versus payment at an FX provider's signed quote (`hutong
    /// quote`): pay `--pay` of the quote's sell asset, the payee receives
    /// the buy asset at the quoted rate, at least `--min-receive`.
    Pvp {
        /// The quote file the provider signed.
        #[arg(long)]
        quote: PathBuf,
        /// In units of the sell asset.
        #[arg(long)]
        pay: String,
        /// In units of the buy asset: the payment fails (`slippage`) if the
        /// payee would receive less.
        #[arg(long)]
        min_receive: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        transfer_id: Option<u128>,
    },
    /// Open-banking mandates: grant a third party's account the right to
    /// pay from (or read) this account, revoke it, or pay under one.
    #[command(subcommand)]
    Mandate(MandateCommand),
    /// Make an account receive-only or send-only, or back to normal.
    AccountState {
        #[arg(long)]
        account: String,
        /// normal, receive-only or send-only.
        #[arg(long)]
        state: String,
        #[arg(long, default_value = "other")]
        reason: String,
        #[arg(long, default_value = "")]
        reference: String,
        /// Seconds until it lifts itself; none if omitted.
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// Publish the institution's memo key (its customers' memos are
    /// sealed to it): the public key of a seed file made with `hutong keys
    /// new`, kept by the institution's node as `[memo] key`.
    SetMemoKey {
        /// The memo key's seed file.
        #[arg(long)]
        memo_key: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum MandateCommand {
    /// Grant a mandate (the sender is the account's owner).
    Grant {
        /// The third party's account.
        #[arg(long)]
        grantee: String,
        #[arg(long)]
        asset: String,
        /// Most per payment, in units of the asset.
        #[arg(long, default_value = "0")]
        per_payment: String,
        /// Most per period, in units of the asset.
        #[arg(long, default_value = "0")]
        per_period: String,
        /// The period's length in days.
        #[arg(long, default_value_t = 30)]
        period_days: u32,
        /// How many days from now it lasts (at most 400).
        #[arg(long, default_value_t = 90)]
        days: u64,
        /// A payee it may pay (repeat; any payee if none).
        #[arg(long)]
        payee: Vec<String>,
        /// The grantee may also read the account through the RPC.
        #[arg(long)]
        read: bool,
        /// A read-only mandate: no payments.
        #[arg(long, requires = "read")]
        no_pay: bool,
        /// The mandate's id on the account; random if omitted, and printed.
        #[arg(long)]
        mandate_id: Option<u64>,
    },
    /// Revoke a mandate (the account's owner): no payment uses it after.
    Revoke {
        #[arg(long)]
        mandate_id: u64,
    },
    /// Pay from the granting account under a mandate (the sender is the
    /// grantee).
    Pay {
        #[arg(long)]
        payer: String,
        #[arg(long)]
        mandate_id: u64,
        #[arg(long)]
        to: String,
        #[arg(long)]
        asset: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        transfer_id: Option<u128>,
    },
}

/// `hutong quote`: an FX provider signs a quote for one payment.
#[derive(Args)]
pub struct QuoteArgs {
    #[command(flatten)]
    common: Common,
    /// The provider's institution key file.
    #[arg(long)]
    key: PathBuf,
    /// What the payer pays.
    #[arg(long)]
    sell: String,
    /// What the payee receives.
    #[arg(long)]
    buy: String,
    /// Units of the buy asset per unit of the sell asset ("1.0912").
    #[arg(long)]
    rate: String,
    /// Least the payer may pay, in units of the sell asset.
    #[arg(long)]
    min: String,
    /// Most the payer may pay, in units of the sell asset.
    #[arg(long)]
    max: String,
    /// Seconds it stays valid (at most a day).
    #[arg(long, default_value_t = 300)]
    expires_in: u64,
    /// The one payer it is for (any payer if omitted).
    #[arg(long)]
    payer: Option<String>,
    /// The quote's id (it settles once); random if omitted.
    #[arg(long)]
    quote_id: Option<u64>,
    /// Where to write the signed quote (JSON); printed if omitted.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// A signed quote as a file: the quote's fields (amounts in minor units,
/// the rate as a fraction of minor units), its signature and its chain.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct QuoteFile {
    chain_id: String,
    provider: String,
    quote_id: u64,
    sell: String,
    buy: String,
    rate_num: u64,
    rate_den: u64,
    min_sell: String,
    max_sell: String,
    expires_at_ms: u64,
    payer: Option<String>,
    quote_signature: String,
}

impl QuoteFile {
    fn quote(&self) -> Result<hutong_runtime::exchange::Quote> {
        let minor = |s: &str, what: &str| -> Result<Amount> {
            s.parse::<u128>()
                .map(Amount)
                .map_err(|_| anyhow::anyhow!("{what} {s:?} is not an amount in minor units"))
        };
        Ok(hutong_runtime::exchange::Quote {
            provider: address(&self.provider)?,
            quote_id: self.quote_id,
            sell: asset(&self.sell)?,
            buy: asset(&self.buy)?,
            rate: hutong_runtime::exchange::Rate {
                num: self.rate_num,
                den: self.rate_den,
            },
            min_sell: minor(&self.min_sell, "min_sell")?,
            max_sell: minor(&self.max_sell, "max_sell")?,
            expires_at: TimestampMs(self.expires_at_ms),
            payer: self.payer.as_deref().map(address).transpose()?,
        })
    }
}

/// "1.0912" of major units, between assets of these decimals, as a
/// reduced fraction of minor units that fits u64.
fn rate_arg(text: &str, sell_decimals: u32, buy_decimals: u32) -> Result<(u64, u64)> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 18 {
        bail!("--rate {text:?}: expected a decimal number with at most 18 decimals");
    }
    let num: u128 = format!("{whole}{frac}")
        .parse()
        .with_context(|| format!("--rate {text:?} is not a number"))?;
    let pow = |e: u32| 10u128.checked_pow(e).context("--rate: too many decimals");
    let num = num
        .checked_mul(pow(buy_decimals)?)
        .context("--rate is too large")?;
    let den = pow(frac.len() as u32)?
        .checked_mul(pow(sell_decimals)?)
        .context("--rate has too many decimals")?;
    fn gcd(a: u128, b: u128) -> u128 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = gcd(num, den).max(1);
    let (num, den) = (num / g, den / g);
    if num == 0 {
        bail!("--rate must be more than zero");
    }
    Ok((
        u64::try_from(num).context("--rate does not fit a fraction of u64s")?,
        u64::try_from(den).context("--rate does not fit a fraction of u64s")?,
    ))
}

/// Parses one `--leg` of `hutong tx linked`.
fn linked_leg(
    text: &str,
    status: &StatusView,
    holds: &std::collections::BTreeMap<(Address, TransferId), String>,
) -> Result<hutong_runtime::tx::LinkedOp> {
    use hutong_runtime::tx::LinkedOp;
    let parts: Vec<&str> = text.split(':').collect();
    let bad = || {
        anyhow::anyhow!(
            "--leg {text:?}: expected transfer:TO:ASSET:AMOUNT, hold:TO:ASSET:AMOUNT:EXPIRES_IN, \
             capture:PAYER:HOLD_ID:AMOUNT or void:PAYER:HOLD_ID"
        )
    };
    Ok(match parts.as_slice() {
        ["transfer", to, a, amount] => {
            let transfer_id = TransferId(rand::random());
            say!("leg transfer to {to}: transfer id {transfer_id}");
            LinkedOp::Transfer {
                to: address(to)?,
                asset: asset(a)?,
                amount: parse_amount(amount, decimals_of(status, a)?)?,
                transfer_id,
            }
        }
        ["hold", to, a, amount, expires_in] => {
            let hold_id = TransferId(rand::random());
            say!("leg hold for {to}: hold id {hold_id}");
            LinkedOp::Hold {
                to: address(to)?,
                asset: asset(a)?,
                amount: parse_amount(amount, decimals_of(status, a)?)?,
                hold_id,
                expires_at: seconds_from_now(
                    expires_in
                        .parse()
                        .map_err(|_| anyhow::anyhow!("--leg {text:?}: seconds {expires_in:?}"))?,
                )?,
            }
        }
        ["capture", payer, hold_id, amount] => {
            let payer = address(payer)?;
            let hold_id = hold_id_arg(hold_id)?;
            let asset = holds.get(&(payer, hold_id)).ok_or_else(|| {
                anyhow::anyhow!("--leg {text:?}: no hold {hold_id} of {payer} on the ledger")
            })?;
            LinkedOp::Capture {
                payer,
                hold_id,
                amount: parse_amount(amount, decimals_of(status, asset)?)?,
            }
        }
        ["void", payer, hold_id] => LinkedOp::Void {
            payer: address(payer)?,
            hold_id: hold_id_arg(hold_id)?,
        },
        _ => return Err(bad()),
    })
}

/// A random id below 2^53: the node's JSON views carry ids as numbers,
/// which JavaScript reads exactly only that far (sdk/SPEC.md).
fn json_safe_id() -> u64 {
    rand::random::<u64>() >> 11
}

fn chain_id_of(status: &StatusView) -> Result<ChainId> {
    Ok(ChainId(
        Hash::from_hex(&status.chain_id)
            .context("node reported no chain id")?
            .0,
    ))
}

/// `hutong quote`: signs a quote with the provider's key.
pub fn quote(args: QuoteArgs) -> Result<()> {
    let key = keyfile::read(&args.key)?;
    runtime()?.block_on(async move {
        let client = Client::new(&args.common.rpc)?;
        let status = client.status().await?;
        let chain_id = chain_id_of(&status)?;
        let (sell_d, buy_d) = (
            decimals_of(&status, &args.sell)?,
            decimals_of(&status, &args.buy)?,
        );
        let (num, den) = rate_arg(&args.rate, sell_d, buy_d)?;
        let quote = hutong_runtime::exchange::Quote {
            provider: Address::of(&key.public()),
            quote_id: args.quote_id.unwrap_or_else(json_safe_id),
            sell: asset(&args.sell)?,
            buy: asset(&args.buy)?,
            rate: hutong_runtime::exchange::Rate { num, den },
            min_sell: parse_amount(&args.min, sell_d)?,
            max_sell: parse_amount(&args.max, sell_d)?,
            expires_at: seconds_from_now(args.expires_in)?,
            payer: args.payer.as_deref().map(address).transpose()?,
        };
        let file = QuoteFile {
            chain_id: status.chain_id.clone(),
            provider: quote.provider.to_string(),
            quote_id: quote.quote_id,
            sell: quote.sell.to_string(),
            buy: quote.buy.to_string(),
            rate_num: num,
            rate_den: den,
            min_sell: quote.min_sell.0.to_string(),
            max_sell: quote.max_sell.0.to_string(),
            expires_at_ms: quote.expires_at.0,
            payer: quote.payer.map(|p| p.to_string()),
            quote_signature: quote.sign(chain_id, &key).to_hex(),
        };
        let text = serde_json::to_string_pretty(&file)?;
        match &args.out {
            Some(path) => {
                std::fs::write(path, text + "\n")
                    .with_context(|| format!("writing {}", path.display()))?;
                say!(
                    "quote {} written to {}: 1 {} buys {} {}, for {} to {} {}",
                    file.quote_id,
                    path.display(),
                    file.sell,
                    args.rate,
                    file.buy,
                    args.min,
                    args.max,
                    file.sell
                );
            }
            None => say!("{text}"),
        }
        Ok(())
    })
}

#[derive(Args)]
pub struct QueryArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    what: QueryCommand,
}

#[derive(Subcommand)]
pub enum QueryCommand {
    /// Balances (in the asset's units: `100,001.25 CNY`), sequence, tier,
    /// status and today's limits of an address.
    Account {
        address: String,
        /// Print the node's JSON answer (minor units and decimals both).
        #[arg(long)]
        json: bool,
        /// Read it under this read mandate (`hutong_readAccount`), signed
        /// with --key (the grantee's).
        #[arg(long, requires = "key")]
        mandate_id: Option<u64>,
        /// The grantee's key file, with --mandate-id.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// The mandates an account granted: grantee, scope, limits, what was
    /// spent this period, and whether each is in force.
    Mandates {
        address: String,
        /// Print the node's JSON answer (minor units).
        #[arg(long)]
        json: bool,
    },
    /// A transaction's status and receipt, by hash.
    Tx { hash: String },
    /// A settlement cycle's clearing between institutions: gross flows
    /// per institution pair and each one's net position (the open cycle
    /// without a number).
    Clearing {
        cycle: Option<u64>,
        /// Print the node's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// A hold: payee, amount, expiry, and whether it is open, captured,
    /// voided or expired.
    Hold {
        #[arg(long)]
        payer: String,
        #[arg(long)]
        hold_id: String,
    },
    /// A transaction's sealed memo in clear, from the node of a party's
    /// institution, asked with the party's key (the sender's or a
    /// recipient's account key, or their institution's).
    Memo {
        hash: String,
        #[arg(long)]
        key: PathBuf,
    },
    /// A block by height (a number) or id (hex).
    Block { at: String },
    /// The node's chain, height, round, peers and mempool.
    Status,
}

pub(crate) fn parse_amount(text: &str, decimals: u32) -> Result<Amount> {
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if frac.len() > decimals as usize {
        bail!("amount {text:?} has more than {decimals} decimals");
    }
    let digits = format!("{whole}{frac:0<width$}", width = decimals as usize);
    let value: u128 = digits
        .parse()
        .with_context(|| format!("amount {text:?} is not a number"))?;
    Ok(Amount(value))
}

pub(crate) fn decimals_of(status: &StatusView, asset: &str) -> Result<u32> {
    status
        .decimals(asset)
        .map(u32::from)
        .with_context(|| format!("the chain has no asset {asset:?}"))
}

fn address(s: &str) -> Result<Address> {
    s.parse()
        .map_err(|e| anyhow::anyhow!("{s:?} is not an address: {e}"))
}

pub(crate) fn asset(s: &str) -> Result<AssetCode> {
    s.parse()
        .map_err(|e| anyhow::anyhow!("{s:?} is not an asset code: {e:?}"))
}

pub(crate) fn freeze_reason(s: &str) -> Result<FreezeReason> {
    Ok(match s {
        "fraud" => FreezeReason::Fraud,
        "legal-order" => FreezeReason::LegalOrder,
        "regulatory" => FreezeReason::Regulatory,
        "customer-request" => FreezeReason::CustomerRequest,
        "other" => FreezeReason::Other,
        other => bail!("--reason {other:?}: expected fraud, legal-order, regulatory, customer-request or other"),
    })
}

/// A hold id as shown (32 hex digits; fewer are zero-padded).
fn hold_id_arg(s: &str) -> Result<TransferId> {
    let hex = s.trim().trim_start_matches("0x");
    if hex.is_empty() || hex.len() > 32 {
        bail!("hold id {s:?}: expected 1 to 32 hex digits");
    }
    u128::from_str_radix(hex, 16)
        .map(TransferId)
        .map_err(|e| anyhow::anyhow!("hold id {s:?}: {e}"))
}

pub(crate) fn reference_arg(s: &str) -> Result<Vec<u8>> {
    let max = hutong_runtime::tx::REFERENCE_BYTES_MAX;
    if s.len() > max {
        bail!("--reference is {} bytes; at most {max}", s.len());
    }
    Ok(s.as_bytes().to_vec())
}

/// This machine's clock plus `seconds`, as a block timestamp (block time
/// follows the validators' clocks closely).
fn seconds_from_now(seconds: u64) -> Result<TimestampMs> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?;
    let ms = u64::try_from(now.as_millis()).context("the clock is past 2^64 ms")?;
    Ok(TimestampMs(
        ms.saturating_add(seconds.saturating_mul(1_000)),
    ))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn tx(args: TxArgs) -> Result<()> {
    let key = keyfile::read(&args.key)?;
    let cosigner = args
        .cosigner_key
        .as_deref()
        .map(keyfile::read)
        .transpose()?;
    runtime()?.block_on(async move {
        let client = Client::new(&args.common.rpc)?;
        let status = client.status().await?;
        let kind = match &args.kind {
            TxCommand::Transfer {
                to,
                asset: a,
                amount,
                transfer_id,
            } => TxKind::Transfer {
                to: address(to)?,
                asset: asset(a)?,
                amount: parse_amount(amount, decimals_of(&status, a)?)?,
                transfer_id: TransferId(transfer_id.unwrap_or_else(rand::random)),
            },
            TxCommand::OpenAccount {
                owner,
                tier,
                identity: Some(identity),
                regulator_rpc: Some(regulator_rpc),
                ..
            } => {
                let owner =
                    PublicKey::from_hex(owner).map_err(|e| anyhow::anyhow!("--owner: {e}"))?;
                let (identity_commitment, identity_envelope) = crate::identity_cmd::seal_identity(
                    &client,
                    regulator_rpc,
                    &key,
                    &owner,
                    identity,
                )
                .await?;
                TxKind::OpenAccount {
                    owner,
                    tier: Tier(*tier),
                    identity_commitment,
                    identity_envelope,
                }
            }
            TxCommand::OpenAccount {
                owner,
                tier,
                id_type,
                id_number,
                identity_salt,
                identity_commitment,
                ..
            } => TxKind::OpenAccount {
                owner: {
                    if client.parameters().await?.identity.is_some() {
                        anyhow::bail!(
                            "this chain runs an identity service: every account is opened with \
                             --identity TYPE:NUMBER and --regulator-rpc (the regulator's node)"
                        );
                    }
                    PublicKey::from_hex(owner).map_err(|e| anyhow::anyhow!("--owner: {e}"))?
                },
                tier: Tier(*tier),
                identity_envelope: Vec::new(),
                identity_commitment: match (id_type, id_number, identity_commitment) {
                    (Some(t), Some(n), _) => {
                        let salt: [u8; 32] = match identity_salt {
                            Some(h) => hex::decode(h)
                                .ok()
                                .and_then(|b| b.try_into().ok())
                                .context("--identity-salt must be 64 hex digits")?,
                            None => rand::random(),
                        };
                        let c = hutong_runtime::identity::commitment(t, n, &salt)
                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                        say!(
                            "identity commitment {} (salt {}: keep it with the KYC record)",
                            c.to_hex(),
                            hex::encode(salt)
                        );
                        c
                    }
                    (_, _, Some(h)) => Hash::from_hex(h)
                        .map_err(|e| anyhow::anyhow!("--identity-commitment: {e}"))?,
                    _ => Hash([0; 32]),
                },
            },
            TxCommand::Freeze { account, reason } => TxKind::Freeze {
                account: address(account)?,
                reason: freeze_reason(reason)?,
            },
            TxCommand::Unfreeze { account } => TxKind::Unfreeze {
                account: address(account)?,
            },
            TxCommand::Mint {
                to,
                asset: a,
                amount,
            } => TxKind::Mint {
                to: address(to)?,
                asset: asset(a)?,
                amount: parse_amount(amount, decimals_of(&status, a)?)?,
            },
            TxCommand::Burn { asset: a, amount } => TxKind::Burn {
                asset: asset(a)?,
                amount: parse_amount(amount, decimals_of(&status, a)?)?,
            },
            TxCommand::Hold {
                to,
                asset: a,
                amount,
                hold_id,
                expires_in,
            } => {
                let hold_id = match hold_id {
                    Some(h) => hold_id_arg(h)?,
                    None => TransferId(rand::random()),
                };
                say!("hold id {hold_id}");
                TxKind::Hold {
                    to: address(to)?,
                    asset: asset(a)?,
                    amount: parse_amount(amount, decimals_of(&status, a)?)?,
                    hold_id,
                    expires_at: seconds_from_now(*expires_in)?,
                }
            }
            TxCommand::Capture {
                payer,
                hold_id,
                amount,
            } => {
                let payer = address(payer)?;
                let hold_id = hold_id_arg(hold_id)?;
                let hold = client.hold(&payer, hold_id).await?;
                TxKind::Capture {
                    payer,
                    hold_id,
                    amount: parse_amount(amount, decimals_of(&status, &hold.asset)?)?,
                }
            }
            TxCommand::Void { payer, hold_id } => TxKind::Void {
                payer: address(payer)?,
                hold_id: hold_id_arg(hold_id)?,
            },
            TxCommand::FreezeAmount {
                account,
                asset: a,
                amount,
                reason,
                reference,
                freeze_id,
                expires_in,
            } => {
                let freeze_id = freeze_id.unwrap_or_else(json_safe_id);
                say!("freeze id {freeze_id}");
                TxKind::FreezeAmount {
                    account: address(account)?,
                    asset: asset(a)?,
                    amount: parse_amount(amount, decimals_of(&status, a)?)?,
                    freeze_id,
                    reason: freeze_reason(reason)?,
                    reference: reference_arg(reference)?,
                    expires_at: expires_in.map(seconds_from_now).transpose()?,
                }
            }
            TxCommand::RegisterDevice {
                device_key,
                asset: a,
                max_per_hold,
                daily_max,
                payee,
            } => {
                let decimals = decimals_of(&status, a)?;
                TxKind::RegisterDevice {
                    key: PublicKey::from_hex(device_key)
                        .map_err(|e| anyhow::anyhow!("--device-key: {e}"))?,
                    asset: asset(a)?,
                    max_per_hold: parse_amount(max_per_hold, decimals)?,
                    daily_max: parse_amount(daily_max, decimals)?,
                    payees: payee.iter().map(|p| address(p)).collect::<Result<_>>()?,
                }
            }
            TxCommand::RevokeDevice { device_key } => TxKind::RevokeDevice {
                key: PublicKey::from_hex(device_key)
                    .map_err(|e| anyhow::anyhow!("--device-key: {e}"))?,
            },
            TxCommand::Linked { legs } => {
                // A capture's amount is in its hold's asset: read the holds
                // the legs name.
                let mut holds = std::collections::BTreeMap::new();
                for leg in legs {
                    if let ["capture", payer, hold_id, _] =
                        leg.split(':').collect::<Vec<_>>().as_slice()
                    {
                        let (payer, hold_id) = (address(payer)?, hold_id_arg(hold_id)?);
                        let hold = client.hold(&payer, hold_id).await?;
                        holds.insert((payer, hold_id), hold.asset);
                    }
                }
                TxKind::Linked {
                    legs: legs
                        .iter()
                        .map(|l| linked_leg(l, &status, &holds))
                        .collect::<Result<_>>()?,
                }
            }
            TxCommand::Pvp {
                quote,
                pay,
                min_receive,
                to,
                transfer_id,
            } => {
                let text = std::fs::read_to_string(quote)
                    .with_context(|| format!("reading {}", quote.display()))?;
                let file: QuoteFile = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a quote file", quote.display()))?;
                if file.chain_id != status.chain_id {
                    bail!(
                        "the quote is for chain {}, the node's is {}",
                        file.chain_id,
                        status.chain_id
                    );
                }
                let q = file.quote()?;
                let quote_signature = hutong_runtime::Signature::from_hex(&file.quote_signature)
                    .map_err(|e| anyhow::anyhow!("quote_signature: {e}"))?;
                TxKind::Pvp {
                    quote: q,
                    quote_signature,
                    pay: parse_amount(pay, decimals_of(&status, &file.sell)?)?,
                    min_receive: parse_amount(min_receive, decimals_of(&status, &file.buy)?)?,
                    to: address(to)?,
                    transfer_id: TransferId(transfer_id.unwrap_or_else(rand::random)),
                }
            }
            TxCommand::Mandate(MandateCommand::Grant {
                grantee,
                asset: a,
                per_payment,
                per_period,
                period_days,
                days,
                payee,
                read,
                no_pay,
                mandate_id,
            }) => {
                let decimals = decimals_of(&status, a)?;
                let mandate_id = mandate_id.unwrap_or_else(json_safe_id);
                say!("mandate id {mandate_id}");
                TxKind::GrantMandate {
                    mandate_id,
                    grantee: address(grantee)?,
                    scope: hutong_runtime::mandate::MandateScope {
                        pay: !no_pay,
                        read: *read,
                    },
                    asset: asset(a)?,
                    payees: payee.iter().map(|p| address(p)).collect::<Result<_>>()?,
                    per_payment: parse_amount(per_payment, decimals)?,
                    per_period: parse_amount(per_period, decimals)?,
                    period_seconds: period_days
                        .checked_mul(86_400)
                        .context("--period-days is too large")?,
                    start: seconds_from_now(0)?,
                    end: seconds_from_now(days.saturating_mul(86_400))?,
                }
            }
            TxCommand::Mandate(MandateCommand::Revoke { mandate_id }) => TxKind::RevokeMandate {
                mandate_id: *mandate_id,
            },
            TxCommand::Mandate(MandateCommand::Pay {
                payer,
                mandate_id,
                to,
                asset: a,
                amount,
                transfer_id,
            }) => TxKind::MandatePay {
                payer: address(payer)?,
                mandate_id: *mandate_id,
                to: address(to)?,
                asset: asset(a)?,
                amount: parse_amount(amount, decimals_of(&status, a)?)?,
                transfer_id: TransferId(transfer_id.unwrap_or_else(rand::random)),
            },
            TxCommand::ReleaseFreeze { account, freeze_id } => TxKind::ReleaseFreeze {
                account: address(account)?,
                freeze_id: *freeze_id,
            },
            TxCommand::SetMemoKey { memo_key } => {
                let seed = keyfile::read(memo_key)?;
                TxKind::SetMemoKey {
                    key: hutong_privacy::keys::memo_key(&seed.secret_bytes()).public_key(),
                }
            }
            TxCommand::AccountState {
                account,
                state,
                reason,
                reference,
                expires_in,
            } => TxKind::SetAccountState {
                account: address(account)?,
                state: match state.as_str() {
                    "normal" => AccountState::Normal,
                    "receive-only" => AccountState::ReceiveOnly,
                    "send-only" => AccountState::SendOnly,
                    other => bail!("--state {other:?}: expected normal, receive-only or send-only"),
                },
                reason: freeze_reason(reason)?,
                reference: reference_arg(reference)?,
                expires_at: expires_in.map(seconds_from_now).transpose()?,
            },
        };
        send(
            &client,
            &status,
            &key,
            cosigner.as_ref(),
            kind,
            args.valid_for_blocks,
            args.memo.into_bytes(),
            args.wait,
        )
        .await
    })
}

/// Signs `kind` with `key` (at the account's next sequence; after a key
/// rotation the node resolves the key to its account), submits it and,
/// with `wait`, prints its receipt once final. A recorded failure is an
/// error with its code.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send(
    client: &Client,
    status: &StatusView,
    key: &hutong_runtime::Keypair,
    cosigner: Option<&hutong_runtime::Keypair>,
    kind: TxKind,
    valid_for_blocks: u64,
    memo: Vec<u8>,
    wait: bool,
) -> Result<()> {
    let chain_id = ChainId(
        Hash::from_hex(&status.chain_id)
            .context("node reported no chain id")?
            .0,
    );
    let me = Address::of(&key.public());
    // Past this node's pending transactions of the same sender.
    let view = client.account(&me).await?;
    let sequence = view.sequence.max(view.next_sequence);
    // On a chain with an identity service a memo is sealed to its
    // readers: the parties' institutions and the regulator.
    let memo = if !memo.is_empty() && client.parameters().await?.identity.is_some() {
        client
            .seal_memo(
                &chain_id,
                &key.public(),
                sequence,
                &kind.counterparties(),
                &memo,
            )
            .await
            .context("sealing the memo")?
    } else {
        memo
    };
    let tx = Transaction {
        chain_id,
        sender: key.public(),
        sequence: Nonce(sequence),
        expiry: Expiry::Height(Height(status.height + valid_for_blocks)),
        kind,
        cosigner: None,
        memo,
    };
    let signed = match cosigner {
        Some(c) => tx.sign_cosigned(key, c),
        None => tx.sign(key),
    };
    let started = Instant::now();
    let hash = client.submit(&signed).await?;
    say!("submitted {hash}");
    if !wait {
        return Ok(());
    }
    let mut shown = false;
    let final_status = client
        .wait_final_with(&hash, Duration::from_secs(60), |p| {
            // One line on stderr, rewritten in place.
            let height = p
                .height
                .map(|h| h.to_string())
                .unwrap_or_else(|| "?".into());
            eprint!(
                "\rwaiting for finality: {} at height {height}, {:.1} s   ",
                p.status,
                p.waited.as_secs_f64()
            );
            shown = true;
        })
        .await;
    if shown {
        eprintln!();
    }
    let final_status = final_status?;
    say!("{}", serde_json::to_string_pretty(&final_status)?);
    say!("final in {:.2} s", started.elapsed().as_secs_f64());
    if let Some(receipt) = final_status.receipt().filter(|r| !r.success) {
        let code = receipt.code.as_deref().unwrap_or("unknown");
        match receipt.failed_leg {
            Some(leg) => bail!(
                "the transaction was recorded but failed at leg {leg} (no leg took effect): {code}"
            ),
            None => bail!("the transaction was recorded but failed: {code}"),
        }
    }
    Ok(())
}

/// A freeze (with a reason) or an unfreeze (without), signed with `key`:
/// what `hutong audit freeze|unfreeze` sends.
pub(crate) fn freeze(
    rpc: String,
    key: PathBuf,
    account: String,
    reason: Option<String>,
    wait: bool,
) -> Result<()> {
    tx(TxArgs {
        common: Common { rpc },
        key,
        cosigner_key: None,
        wait,
        valid_for_blocks: 1_000,
        memo: String::new(),
        kind: match reason {
            Some(reason) => TxCommand::Freeze { account, reason },
            None => TxCommand::Unfreeze { account },
        },
    })
}

/// An amount of minor units (a leading `-` for a debit) in the asset's
/// units, or as minor units when the asset's decimals are unknown.
fn money(decimals: &std::collections::BTreeMap<String, u8>, minor: &str, asset: &str) -> String {
    let (sign, digits) = match minor.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", minor),
    };
    match (decimals.get(asset), digits.parse::<u128>()) {
        (Some(d), Ok(m)) => format!(
            "{sign}{} {asset}",
            hutong_wire::amount::format_grouped(m, *d)
        ),
        _ => format!("{minor} minor units of {asset}"),
    }
}

/// An account as a person reads it: amounts in the asset's units.
fn account_text(
    v: &hutong_wire::rpc::AccountView,
    decimals: &std::collections::BTreeMap<String, u8>,
) -> String {
    use std::fmt::Write as _;
    let money = |minor: &str, asset: &str| money(decimals, minor, asset);
    let mut out = String::new();
    let _ = writeln!(out, "account    {}", v.address);
    let kind = match v.tier {
        Some(t) => format!("{} (tier {t})", v.kind),
        None => v.kind.clone(),
    };
    let _ = writeln!(out, "kind       {kind}, institution {}", v.institution);
    let status = match (&v.frozen, &v.restriction) {
        (Some(f), _) => format!("frozen ({}, by {})", f.reason, f.by),
        (None, Some(r)) => {
            let until = r
                .expires_at_ms
                .map(|t| format!(", until {t} ms"))
                .unwrap_or_default();
            format!("{} ({}, by {}{until})", r.state, r.reason, r.by)
        }
        (None, None) => v.status.clone(),
    };
    let _ = writeln!(out, "status     {status}");
    let _ = writeln!(
        out,
        "sequence   {} (the next transaction, counting pending ones: {})",
        v.sequence, v.next_sequence
    );
    if v.balances.is_empty() {
        let _ = writeln!(out, "balances   none");
    }
    for (i, (asset, minor)) in v.balances.iter().enumerate() {
        let label = if i == 0 { "balances" } else { "" };
        match (v.held.get(asset), v.available.get(asset)) {
            (Some(held), Some(available)) => {
                let _ = writeln!(
                    out,
                    "{label:<10} {} ({} held, {} available)",
                    money(minor, asset),
                    money(held, asset),
                    money(available, asset)
                );
            }
            _ => {
                let _ = writeln!(out, "{label:<10} {}", money(minor, asset));
            }
        }
    }
    for f in &v.amount_freezes {
        let until = f
            .expires_at_ms
            .map(|t| format!(", until {t} ms"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "frozen     {} (id {}, {}, by {}{}{until})",
            money(&f.amount, &f.asset),
            f.id,
            f.reason,
            f.by,
            if f.reference.is_empty() {
                String::new()
            } else {
                format!(", ref {}", f.reference)
            }
        );
    }
    for (asset, l) in &v.limits {
        let mut line = format!(
            "today      {asset}: sent {} of {} ({} left); at most {} per transfer",
            money(&l.spent_today, asset),
            money(&l.daily_max, asset),
            money(&l.remaining_today, asset),
            money(&l.single_max, asset),
        );
        if let Some(t) = &l.step_up_threshold {
            let _ = write!(line, "; co-signed above {}", money(t, asset));
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = write!(out, "as of      height {}", v.height);
    out
}

/// An account's mandates as a person reads them: amounts in the asset's
/// units.
fn mandates_text(
    v: &hutong_wire::rpc::MandatesView,
    decimals: &std::collections::BTreeMap<String, u8>,
) -> String {
    use std::fmt::Write as _;
    let money = |minor: &str, asset: &str| money(decimals, minor, asset);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mandates of {} (at height {}): {}",
        v.account,
        v.height,
        v.mandates.len()
    );
    for m in &v.mandates {
        let scope = match (m.scope.pay, m.scope.read) {
            (true, true) => "pay and read",
            (true, false) => "pay",
            (false, true) => "read",
            (false, false) => "nothing",
        };
        let _ = writeln!(
            out,
            "\nmandate {} to {} ({scope}), {}",
            m.mandate_id,
            m.grantee,
            if m.active { "in force" } else { "not in force" }
        );
        let _ = writeln!(
            out,
            "  per payment {}, per period of {} s {}, spent this period {}",
            money(&m.per_payment, &m.asset),
            m.period_seconds,
            money(&m.per_period, &m.asset),
            money(&m.spent_in_period, &m.asset)
        );
        let payees = if m.payees.is_empty() {
            "any".to_string()
        } else {
            m.payees.join(", ")
        };
        let _ = writeln!(
            out,
            "  payees {payees}; from {} ms to {} ms",
            m.start_ms, m.end_ms
        );
    }
    out
}

/// A cycle's clearing as people read it: amounts in the asset's units.
fn clearing_text(
    v: &hutong_wire::rpc::ClearingView,
    decimals: &std::collections::BTreeMap<String, u8>,
) -> String {
    use std::fmt::Write as _;
    let money = |minor: &str, asset: &str| money(decimals, minor, asset);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cycle {} ({}), {} ms to {} ms",
        v.cycle,
        if v.closed { "closed" } else { "open" },
        v.start_ms,
        v.end_ms
    );
    if v.flows.is_empty() {
        let _ = writeln!(out, "no payments between institutions");
    }
    for f in &v.flows {
        let _ = writeln!(
            out,
            "  {} -> {}: {} in {} payments",
            f.from_name.as_deref().unwrap_or(&f.from),
            f.to_name.as_deref().unwrap_or(&f.to),
            money(&f.amount, &f.asset),
            f.count
        );
    }
    if !v.positions.is_empty() {
        let _ = writeln!(
            out,
            "net positions (positive: owed to it; negative: it owes)"
        );
    }
    for p in &v.positions {
        let _ = writeln!(
            out,
            "  {:<24} {}",
            p.name.as_deref().unwrap_or(&p.institution),
            money(&p.net, &p.asset)
        );
    }
    let _ = write!(out, "as of height {}", v.height);
    out
}

pub fn query(args: QueryArgs) -> Result<()> {
    runtime()?.block_on(async move {
        let client = Client::new(&args.common.rpc)?;
        // Each answer is printed as the node's JSON, pretty.
        let text = match args.what {
            QueryCommand::Account {
                address: a,
                json,
                mandate_id,
                key,
            } => {
                let view = match (mandate_id, key) {
                    (Some(id), Some(key)) => {
                        let grantee = keyfile::read(&key)?;
                        let chain_id = chain_id_of(&client.status().await?)?;
                        client
                            .read_account(chain_id, &address(&a)?, id, &grantee)
                            .await?
                    }
                    _ => client.account(&address(&a)?).await?,
                };
                if json {
                    serde_json::to_string_pretty(&view)?
                } else {
                    let decimals = client.parameters().await?.decimals;
                    account_text(&view, &decimals)
                }
            }
            QueryCommand::Mandates { address: a, json } => {
                let view = client.mandates(&address(&a)?).await?;
                if json {
                    serde_json::to_string_pretty(&view)?
                } else {
                    let decimals = client.parameters().await?.decimals;
                    mandates_text(&view, &decimals)
                }
            }
            QueryCommand::Hold { payer, hold_id } => serde_json::to_string_pretty(
                &client
                    .hold(&address(&payer)?, hold_id_arg(&hold_id)?)
                    .await?,
            )?,
            QueryCommand::Clearing { cycle, json } => {
                let view = client.clearing(cycle).await?;
                if json {
                    serde_json::to_string_pretty(&view)?
                } else {
                    let decimals = client.parameters().await?.decimals;
                    clearing_text(&view, &decimals)
                }
            }
            QueryCommand::Memo { hash, key } => {
                let h = Hash::from_hex(hash.trim_start_matches("0x"))
                    .map_err(|e| anyhow::anyhow!("{hash:?}: {e}"))?;
                let key = keyfile::read(&key)?;
                let memo = client.read_memo(&key, &h).await?;
                memo.text
            }
            QueryCommand::Tx { hash } => {
                let h = Hash::from_hex(hash.trim_start_matches("0x"))
                    .map_err(|e| anyhow::anyhow!("{hash:?}: {e}"))?;
                serde_json::to_string_pretty(&client.transaction(&h).await?)?
            }
            QueryCommand::Block { at } => {
                let block = match at.parse::<u64>() {
                    Ok(h) => client.block_at(h).await?,
                    Err(_) => client.block_by_id(&at).await?,
                };
                serde_json::to_string_pretty(&block)?
            }
            QueryCommand::Status => serde_json::to_string_pretty(&client.status().await?)?,
        };
        say!("{text}");
        Ok(())
    })
}
