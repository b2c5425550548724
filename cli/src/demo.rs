//! `hutong demo`: the ledger on a generated consortium, in memory.
//!
//! Until the node runs a real consortium (`hutong testnet`), this is the
//! quickest way to watch the ledger work: it generates a genesis with four
//! validators, a regulator and funded customers, signs transfers, verifies
//! them with the node's parallel batch verifier, executes blocks with every
//! risk rule, and prints receipts and state roots.

use crate::out::say;
use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use hutong_genesis::template::{generate, TemplateOptions};
use hutong_genesis::Genesis;
use hutong_host::sigverify::{available_threads, verify_parallel};
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::{prepare_commit, read_value, StateStore};
use hutong_runtime::tx::{Expiry, FreezeReason};
use hutong_runtime::{
    execute_block, Address, Amount, AssetCode, BlockContext, Height, Keypair, MemStore, Nonce,
    Outcome, Receipt, SignatureCheck, SignedTransaction, TimestampMs, Transaction, TransferId,
    TxKind,
};
use rand::{Rng, SeedableRng};

#[derive(Args)]
pub struct DemoArgs {
    /// Blocks to execute.
    #[arg(long, default_value_t = 5)]
    blocks: u64,
    /// Random transfers per block (on top of the showcase transactions).
    #[arg(long, default_value_t = 2_000)]
    transfers: usize,
    /// Customer accounts in the generated genesis.
    #[arg(long, default_value_t = 500)]
    accounts: usize,
    /// Seed for keys and traffic; a random one is chosen and printed if
    /// not given, so any run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
}

struct Party {
    key: Keypair,
    next: u64,
}

struct Demo {
    genesis: Genesis,
    store: MemStore,
    parties: BTreeMap<String, Party>,
    height: u64,
    next_id: u128,
}

impl Demo {
    fn party(&self, name: &str) -> Result<&Party> {
        self.parties
            .get(name)
            .with_context(|| format!("demo has no key {name:?}"))
    }

    fn address(&self, name: &str) -> Result<Address> {
        Ok(Address::of(&self.party(name)?.key.public()))
    }

    /// Signs `kind` from `name` with its next sequence number.
    fn sign(&mut self, name: &str, kind: TxKind) -> Result<SignedTransaction> {
        self.sign_with(name, kind, None)
    }

    /// Signs `kind` from `name`, co-signed by the key named `cosigner` (which
    /// the signed body names, so the co-signature cannot be stripped).
    fn sign_with(
        &mut self,
        name: &str,
        kind: TxKind,
        cosigner: Option<&str>,
    ) -> Result<SignedTransaction> {
        let cosigner = match cosigner {
            Some(c) => Some(self.party(c)?.key.clone()),
            None => None,
        };
        let chain_id = self.genesis.chain_id();
        let height = self.height;
        let party = self
            .parties
            .get_mut(name)
            .with_context(|| format!("demo has no key {name:?}"))?;
        let tx = Transaction {
            chain_id,
            sender: party.key.public(),
            sequence: Nonce(party.next),
            expiry: Expiry::Height(Height(height + 10)),
            kind,
            cosigner: None,
            memo: Vec::new(),
        };
        party.next += 1;
        Ok(match cosigner {
            Some(institution) => tx.sign_cosigned(&party.key, &institution),
            None => tx.sign(&party.key),
        })
    }

    fn transfer(
        &mut self,
        from: &str,
        to: &str,
        asset: AssetCode,
        amount: u128,
    ) -> Result<SignedTransaction> {
        self.next_id += 1;
        let kind = TxKind::Transfer {
            to: self.address(to)?,
            asset,
            amount: Amount(amount),
            transfer_id: TransferId(self.next_id),
        };
        self.sign(from, kind)
    }

    /// Verifies, executes and commits one block; returns its receipts.
    fn execute(&mut self, txs: &[SignedTransaction]) -> Result<Vec<Receipt>> {
        self.height += 1;
        let ctx = BlockContext {
            chain_id: self.genesis.chain_id(),
            height: Height(self.height),
            timestamp: TimestampMs(self.genesis.genesis_time.0 + self.height * 1_000),
            certified: Height(self.height - 1),
        };
        let started = Instant::now();
        let checked = verify_parallel(txs, available_threads());
        let verified = started.elapsed();
        let outcome = execute_block(
            &self.store,
            &ctx,
            txs,
            SignatureCheck::Preverified(&checked),
        )?;
        let executed = started.elapsed();
        let update = prepare_commit(&self.store, self.height, outcome.changes)?;
        let root = update.root;
        self.store.apply(update)?;
        let committed = started.elapsed();

        let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &outcome.receipts {
            let code = match &r.outcome {
                Outcome::Success { .. } => "success",
                Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => reason.code(),
            };
            *codes.entry(code).or_default() += 1;
        }
        let summary: Vec<String> = codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        say!(
            "block {:>3}  {:>5} txs  verify {:>6.1} ms  execute {:>6.1} ms  commit {:>6.1} ms  state root {}",
            self.height,
            txs.len(),
            verified.as_secs_f64() * 1e3,
            (executed - verified).as_secs_f64() * 1e3,
            (committed - executed).as_secs_f64() * 1e3,
            &root.to_hex()[..16],
        );
        say!("           receipts: {}", summary.join(", "));
        Ok(outcome.receipts)
    }
}

fn show(label: &str, r: &Receipt) {
    match &r.outcome {
        Outcome::Success { .. } => say!("  {label:<52} -> success"),
        Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => {
            say!("  {label:<52} -> {}: {reason:?}", reason.code())
        }
    }
}

pub fn run(args: DemoArgs) -> Result<()> {
    if args.accounts < 8 {
        bail!("--accounts must be at least 8 for the showcase");
    }
    let seed = args.seed.unwrap_or_else(|| rand::thread_rng().gen());
    say!("hutong demo, seed {seed} (repeat with --seed {seed})");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let opts = TemplateOptions {
        demo_accounts: args.accounts,
        ..TemplateOptions::default()
    };
    let generated = generate(&opts, &mut rng);
    let genesis = Genesis::from_doc(&generated.doc)?;
    let mut store = MemStore::new();
    let root = genesis.apply(&mut store)?;
    say!(
        "consortium {:?}: {} validators, {} regulator, {} customer accounts, assets CNY (issuer {}) and HKD (issuer {})",
        genesis.consortium,
        genesis.validators().count(),
        genesis.regulators.len(),
        genesis.accounts.len(),
        genesis.members[0].name,
        genesis.members[1].name,
    );
    say!(
        "chain id   {}\ngenesis    state root {}\n",
        genesis.chain_id(),
        root
    );
    let parties = generated
        .keys
        .into_iter()
        .map(|k| {
            (
                k.name,
                Party {
                    key: k.key,
                    next: 0,
                },
            )
        })
        .collect();
    let mut demo = Demo {
        genesis,
        store,
        parties,
        height: 0,
        next_id: 0,
    };
    let cny = AssetCode::new("CNY")?;
    let hkd = AssetCode::new("HKD")?;

    // Block 1: one transaction per rule, so every rule is seen at work.
    // account-2 is tier 2 at wallet-b: 50,000.00 single, step-up above
    // 10,000.00; account-1 is tier 1 at bank-a: 5,000.00 single.
    say!("block 1 shows the ledger rules:");
    let mut showcase: Vec<(&str, SignedTransaction)> = Vec::new();
    showcase.push((
        "transfer 120.00 CNY account-1 -> account-2",
        demo.transfer("account-1", "account-2", cny, 12_000)?,
    ));
    showcase.push((
        "tier 1 sends 6,000.00 CNY (single limit 5,000.00)",
        demo.transfer("account-1", "account-3", cny, 600_000)?,
    ));
    showcase.push((
        "tier 2 sends 20,000.00 HKD without step-up",
        demo.transfer("account-2", "account-3", hkd, 2_000_000)?,
    ));
    demo.next_id += 1;
    let to = demo.address("account-3")?;
    let kind = TxKind::Transfer {
        to,
        asset: hkd,
        amount: Amount(2_000_000),
        transfer_id: TransferId(demo.next_id),
    };
    showcase.push((
        "... re-signed and co-signed by wallet-b",
        demo.sign_with("account-2", kind, Some("wallet-b.institution"))?,
    ));
    let first = demo.transfer("account-5", "account-6", cny, 5_000)?;
    let retry = {
        // The wallet timed out and signs the same payment order again.
        let TxKind::Transfer {
            to,
            asset,
            amount,
            transfer_id,
        } = first.tx.kind.clone()
        else {
            unreachable!("built as a transfer above")
        };
        demo.sign(
            "account-5",
            TxKind::Transfer {
                to,
                asset,
                amount,
                transfer_id,
            },
        )?
    };
    showcase.push(("pay order #N, 50.00 CNY account-5 -> account-6", first));
    showcase.push(("... the wallet retries order #N after a timeout", retry));
    let target = demo.address("account-7")?;
    showcase.push((
        "regulator freezes account-7",
        demo.sign(
            "regulator",
            TxKind::Freeze {
                account: target,
                reason: FreezeReason::Regulatory,
            },
        )?,
    ));
    showcase.push((
        "transfer to frozen account-7",
        demo.transfer("account-8", "account-7", cny, 100)?,
    ));
    showcase.push((
        "mall-c overdraws: 20,000,000.00 HKD to account-4",
        demo.transfer("mall-c.institution", "account-4", hkd, 2_000_000_000)?,
    ));
    let to = demo.address("account-4")?;
    showcase.push((
        "bank-a mints 1,000.00 CNY to account-4",
        demo.sign(
            "bank-a.institution",
            TxKind::Mint {
                to,
                asset: cny,
                amount: Amount(100_000),
            },
        )?,
    ));
    showcase.push((
        "wallet-b tries to mint CNY (bank-a issues it)",
        demo.sign(
            "wallet-b.institution",
            TxKind::Mint {
                to,
                asset: cny,
                amount: Amount(100_000),
            },
        )?,
    ));
    let mut forged = demo.transfer("account-3", "account-1", cny, 100)?;
    forged.signature.0[5] ^= 1;
    showcase.push(("a transfer with a forged signature", forged));
    let txs: Vec<SignedTransaction> = showcase.iter().map(|(_, t)| t.clone()).collect();
    // The forged transfer never consumed account-3's sequence number.
    if let Some(p) = demo.parties.get_mut("account-3") {
        p.next -= 1;
    }
    let receipts = demo.execute(&txs)?;
    for ((label, _), r) in showcase.iter().zip(&receipts) {
        show(label, r);
    }
    say!();

    // Then blocks of random transfers between customers.
    let names: Vec<String> = (1..=args.accounts)
        .map(|i| format!("account-{i}"))
        .collect();
    let supply_before = supply(&demo, &[cny, hkd])?;
    for _ in 1..args.blocks {
        let mut txs = Vec::with_capacity(args.transfers);
        for _ in 0..args.transfers {
            let from = &names[rng.gen_range(0..names.len())];
            let mut to = &names[rng.gen_range(0..names.len())];
            if to == from {
                to = &names[(names.iter().position(|n| n == from).unwrap_or(0) + 1) % names.len()];
            }
            let asset = if rng.gen_bool(0.7) { cny } else { hkd };
            txs.push(demo.transfer(from, to, asset, rng.gen_range(1..=100_000))?);
        }
        demo.execute(&txs)?;
    }
    let supply_after = supply(&demo, &[cny, hkd])?;
    say!();
    for (asset, (before, after)) in [cny, hkd]
        .iter()
        .zip(supply_before.iter().zip(&supply_after))
    {
        let sum = sum_balances(&demo.store, *asset)?;
        say!(
            "{asset}: total supply {} (sum of balances {}), unchanged by transfers: {}",
            after,
            sum,
            if before == after && sum == *after {
                "yes"
            } else {
                "NO"
            }
        );
        if before != after || sum != *after {
            bail!("supply of {asset} is not conserved: this is a bug");
        }
    }
    Ok(())
}

fn supply(demo: &Demo, assets: &[AssetCode]) -> Result<Vec<u128>> {
    assets
        .iter()
        .map(|a| match read_value(&demo.store, &StateKey::Asset(*a))? {
            Some(StateValue::Asset(info)) => Ok(info.total_supply.0),
            _ => bail!("asset {a} missing from state"),
        })
        .collect()
}

fn sum_balances(store: &MemStore, asset: AssetCode) -> Result<u128> {
    let mut sum = 0u128;
    for (key, value) in store.entries() {
        if let (StateKey::Balance(_, a), StateValue::Balance(b)) = (key, value) {
            if a == asset {
                sum = sum
                    .checked_add(b.balance.0)
                    .context("balances overflow u128")?;
            }
        }
    }
    Ok(sum)
}
