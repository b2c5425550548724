//! The load: the chain's keys, the payers' sequences, and the transfers
//! signed before the clock starts.

use std::path::Path;

use anyhow::{bail, Result};
use hutong_genesis::Genesis;
use hutong_host::sigverify::available_threads;
use hutong_node::client::Client;
use hutong_node::keyfile;
use hutong_runtime::crypto::Hash;
use hutong_runtime::tx::{Expiry, Payout};
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Height, Keypair, Nonce, SignedTransaction, Transaction,
    TransferId, TxKind,
};
use rand::{Rng, SeedableRng};

use super::Workload;

/// One pre-signed transfer.
pub(super) struct Item {
    /// Its encoding, as sent.
    pub(super) hex: String,
    pub(super) hash: Hash,
    /// Made to fail at execution (the mixed workload).
    pub(super) failing: bool,
}

/// Most transfers a run signs ahead (each holds ~0.5 KiB until the end).
pub(super) const PRESIGNED_MAX: u64 = 10_000_000;

pub(super) struct Payer {
    pub(super) key: Keypair,
    pub(super) next: u64,
}

pub(super) async fn load_payers(client: &Client, keys: &[Keypair]) -> Result<Vec<Payer>> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let next = client.account(&Address::of(&k.public())).await?.sequence;
        out.push(Payer {
            key: k.clone(),
            next,
        });
    }
    Ok(out)
}

/// Customer keys `account-1…` and institution keys, from the chain's
/// key folder.
pub(super) fn read_keys(dir: &Path, genesis: &Genesis) -> Result<(Vec<Keypair>, Vec<Keypair>)> {
    let keys = dir.join("keys");
    let mut customers = Vec::new();
    for i in 1..=genesis.accounts.len() {
        let path = keys.join(format!("account-{i}.key"));
        if !path.exists() {
            break;
        }
        customers.push(keyfile::read(&path)?);
    }
    let institutions = genesis
        .validators()
        .map(|m| keyfile::read(&keys.join(format!("{}.institution.key", m.name))))
        .collect::<Result<Vec<_>, _>>()?;
    if customers.len() < 2 {
        bail!(
            "the chain in {} has fewer than 2 customer keys",
            dir.display()
        );
    }
    Ok((customers, institutions))
}

/// Signs the load, in parallel over the machine's cores: `count`
/// transactions, each of `legs` transfers (more than 1 only for batch
/// payouts).
#[allow(clippy::too_many_arguments)]
pub(super) fn presign(
    (workload, legs): (Workload, usize),
    count: usize,
    chain_id: ChainId,
    expiry: Height,
    customers: &mut [Payer],
    institutions: &mut [Payer],
    fx_provider: Option<Address>,
    seed: u64,
) -> Result<(Vec<Item>, Vec<SignedTransaction>)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let assets = [
        AssetCode::new("CNY").expect("a valid code"),
        AssetCode::new("HKD").expect("a valid code"),
    ];
    let customer_addrs: Vec<Address> = customers
        .iter()
        .map(|p| Address::of(&p.key.public()))
        .collect();
    let institution_addrs: Vec<Address> = institutions
        .iter()
        .map(|p| Address::of(&p.key.public()))
        .collect();
    // Zipf weights (s = 1) over the institutions.
    let zipf: Vec<f64> = (0..institution_addrs.len())
        .map(|i| 1.0 / (i + 1) as f64)
        .collect();
    let zipf_total: f64 = zipf.iter().sum();
    let id_base = u128::from(rng.gen::<u64>()) << 64;
    // The FX provider's key signs each payment versus payment's quote.
    let provider: Option<Keypair> = match (workload, fx_provider) {
        (Workload::Pvp, Some(a)) => institutions
            .iter()
            .find(|p| Address::of(&p.key.public()) == a)
            .map(|p| p.key.clone()),
        _ => None,
    };
    if workload == Workload::Pvp && provider.is_none() {
        bail!("the pvp workload needs an FX provider among the chain's validators' institutions (the template's second member)");
    }
    // Holds expire an hour after signing (block time follows the clock).
    let hold_expiry = hutong_runtime::TimestampMs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            .saturating_add(3_600_000),
    );
    let mut unsigned: Vec<(Transaction, Keypair, bool)> = Vec::with_capacity(count);
    for k in 0..count {
        let (payer, from_index) = match workload {
            Workload::Payout => {
                let i = k % institutions.len();
                (&mut institutions[i], usize::MAX)
            }
            // A hold and its capture by the same payer, one after the other.
            Workload::Holds => {
                let i = (k / 2) % customers.len();
                (&mut customers[i], i)
            }
            _ => {
                let i = k % customers.len();
                (&mut customers[i], i)
            }
        };
        let to = match workload {
            Workload::Hot if rng.gen_bool(0.9) => {
                let mut x = rng.gen::<f64>() * zipf_total;
                let mut pick = 0;
                for (i, w) in zipf.iter().enumerate() {
                    if x < *w {
                        pick = i;
                        break;
                    }
                    x -= w;
                }
                institution_addrs[pick]
            }
            _ => loop {
                let j = rng.gen_range(0..customer_addrs.len());
                if j != from_index {
                    break customer_addrs[j];
                }
            },
        };
        let failing = workload == Workload::Mixed && k % 20 == 19;
        let amount = if failing {
            // More than any demo account holds.
            Amount(1_000_000_000_000_000)
        } else {
            Amount(1)
        };
        let transfer_id = TransferId(id_base + k as u128);
        let asset = match workload {
            Workload::Holds => assets[(k / 2) % 2],
            _ => assets[k % 2],
        };
        let kind = if let (Workload::Pvp, Some(provider)) = (workload, &provider) {
            let (sell, buy) = (asset, assets[(k + 1) % 2]);
            let quote = hutong_runtime::exchange::Quote {
                provider: Address::of(&provider.public()),
                quote_id: (id_base >> 64) as u64 ^ k as u64,
                sell,
                buy,
                rate: hutong_runtime::exchange::Rate { num: 1, den: 1 },
                min_sell: amount,
                max_sell: amount,
                expires_at: hold_expiry,
                payer: Some(Address::of(&payer.key.public())),
            };
            TxKind::Pvp {
                quote,
                // Signed with the transaction, in parallel, below.
                quote_signature: hutong_runtime::Signature([0; 64]),
                pay: amount,
                min_receive: amount,
                to,
                transfer_id,
            }
        } else if workload == Workload::Holds {
            // The pair shares the hold's id: the even item's.
            let hold_id = TransferId(id_base + (k - k % 2) as u128);
            if k % 2 == 0 {
                TxKind::Hold {
                    to,
                    asset,
                    amount,
                    hold_id,
                    expires_at: hold_expiry,
                }
            } else {
                TxKind::Capture {
                    payer: Address::of(&payer.key.public()),
                    hold_id,
                    amount,
                }
            }
        } else if legs > 1 {
            let mut payouts = Vec::with_capacity(legs);
            payouts.push(Payout { to, amount });
            while payouts.len() < legs {
                let j = rng.gen_range(0..customer_addrs.len());
                payouts.push(Payout {
                    to: customer_addrs[j],
                    amount,
                });
            }
            TxKind::BatchTransfer {
                asset,
                payouts,
                transfer_id,
            }
        } else {
            TxKind::Transfer {
                to,
                asset,
                amount,
                transfer_id,
            }
        };
        let tx = Transaction {
            chain_id,
            sender: payer.key.public(),
            sequence: Nonce(payer.next),
            expiry: Expiry::Height(expiry),
            kind,
            cosigner: None,
            memo: Vec::new(),
        };
        payer.next += 1;
        unsigned.push((tx, payer.key.clone(), failing));
    }
    let threads = available_threads().get();
    let per = unsigned.len().div_ceil(threads).max(1);
    let signed: Vec<(SignedTransaction, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = unsigned
            .chunks(per)
            .map(|chunk| {
                let provider = provider.as_ref();
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(tx, key, failing)| {
                            let mut tx = tx.clone();
                            if let (
                                TxKind::Pvp {
                                    quote,
                                    quote_signature,
                                    ..
                                },
                                Some(provider),
                            ) = (&mut tx.kind, provider)
                            {
                                *quote_signature = quote.sign(chain_id, provider);
                            }
                            (tx.sign(key), *failing)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    // Keep a sample of signed transactions for the verify-rate probe.
    let sample: Vec<SignedTransaction> =
        signed.iter().take(20_000).map(|(t, _)| t.clone()).collect();
    let items = signed
        .into_iter()
        .map(|(t, failing)| Item {
            hex: hex::encode(t.encode()),
            hash: t.hash(),
            failing,
        })
        .collect();
    Ok((items, sample))
}
