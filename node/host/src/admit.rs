//! Admission of transactions into the mempool, from clients (JSON-RPC)
//! and from other validators (shared batches).
//!
//! Cheap checks first, signatures last: size, decoding and chain id; then
//! a full pool sheds the load with "busy" before any signature is checked;
//! then one parallel batch verification for the transactions not already
//! pending (each signature is checked once per node, however many times
//! the transaction arrives); then the state checks under the pool's lock.
//! Client transactions that enter the pool are shared with the other
//! validators, so whoever leads next can include them.

use std::sync::{Arc, Mutex};

use hutong_runtime::crypto::Hash;
use hutong_runtime::state::Account;
use hutong_runtime::{Address, AssetCode, ChainId, SignedTransaction};
use hutong_wire::p2p::TXS_BATCH_MAX;

use crate::mempool::{check_stateless, Decoded, Mempool, Rejection, Tip};
use crate::sigverify::{SignatureCheck, VerifyError};
use crate::status::{Counters, RecentRejections};
use crate::util::lock;

/// The committed state admission reads: accounts, and the tip that judges
/// expiry. Reads may touch the disk; they are made outside the pool's
/// lock.
pub trait Ledger: Send + Sync {
    fn account(&self, address: &Address) -> Option<Account>;
    fn tip(&self) -> Tip;
    /// Whether the asset exists (assets are only ever added, so a `true`
    /// may be remembered). On a read error, `true`: execution decides.
    fn asset_exists(&self, asset: &AssetCode) -> bool;
}

/// What admission hands on: client transactions newly pending, for the
/// other validators (the attestation protocol's outbox, [`crate::attest`]),
/// and the news that the pool grew (a leader waiting to propose).
pub trait Outlets: Send + Sync {
    /// At most [`TXS_BATCH_MAX`] transactions at a time. Best effort: a
    /// full queue only delays them to the leaders that receive them later.
    fn share(&self, raws: Vec<Vec<u8>>);
    fn pool_grew(&self);
}

/// Admission into the pool: the handles it needs, and nothing else.
#[derive(Clone)]
pub struct Admission {
    pub chain_id: ChainId,
    pub pool: Arc<Mutex<Mempool>>,
    pub verifier: Arc<dyn SignatureCheck>,
    pub ledger: Arc<dyn Ledger>,
    pub outlets: Arc<dyn Outlets>,
    pub counters: Arc<Counters>,
    pub rejections: Arc<Mutex<RecentRejections>>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

/// Where transactions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Client,
    Peer,
}

/// Whose signature checks admission relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    /// Checked here.
    Check,
    /// Attested by f + 1 validators, at least one of them honest (see
    /// [`crate::attest`]): not checked again here.
    Attested,
}

/// What an admission did.
#[derive(Debug)]
pub struct Admitted {
    /// Per transaction, in order: its hash when pending (newly or
    /// already), or why not.
    pub verdicts: Vec<Result<Hash, Rejection>>,
    /// Whether every transaction's signatures were checked here, by this
    /// admission, and were valid (what an attestation may claim).
    pub all_checked_valid: bool,
    /// Transactions whose signatures were checked here and are bad.
    pub bad_signatures: Vec<Hash>,
}

impl Admission {
    /// Admits `raws`, returning a verdict per transaction, in order: its
    /// hash when pending (newly or already), or why not.
    pub async fn admit(&self, raws: Vec<Vec<u8>>, source: Source) -> Vec<Result<Hash, Rejection>> {
        self.admit_with(raws, source, Signatures::Check)
            .await
            .verdicts
    }

    /// [`Admission::admit`], saying whose signature checks to rely on.
    pub async fn admit_with(
        &self,
        raws: Vec<Vec<u8>>,
        source: Source,
        signatures: Signatures,
    ) -> Admitted {
        admit_with(self, raws, source, signatures).await
    }
}

async fn admit_with(
    admission: &Admission,
    raws: Vec<Vec<u8>>,
    source: Source,
    signatures: Signatures,
) -> Admitted {
    let mut checked_valid = 0usize;
    let mut bad_signatures = Vec::new();
    let mut verdicts: Vec<Option<Result<Hash, Rejection>>> = vec![None; raws.len()];
    // The hash of every transaction that decodes, to remember rejections by.
    let mut hashes: Vec<Option<Hash>> = vec![None; raws.len()];
    let mut fresh: Vec<(usize, Decoded)> = Vec::new();
    // Decode and hash outside the pool's lock: that is the costly part of
    // the cheap checks, and the lock is shared with block building.
    let decoded: Vec<Result<Decoded, Rejection>> = raws
        .iter()
        .map(|raw| check_stateless(raw, admission.chain_id))
        .collect();
    {
        let pool = lock(&admission.pool);
        let full = pool.is_full();
        for (i, checked) in decoded.into_iter().enumerate() {
            match checked {
                Err(e) => {
                    if matches!(e, Rejection::WrongChain { .. }) {
                        hashes[i] = SignedTransaction::decode(&raws[i]).ok().map(|t| t.hash());
                    }
                    verdicts[i] = Some(Err(e));
                }
                Ok(d) if pool.contains(&d.hash) => verdicts[i] = Some(Ok(d.hash)),
                Ok(d) if full => {
                    hashes[i] = Some(d.hash);
                    verdicts[i] = Some(Err(Rejection::Busy {
                        what: format!("{} transactions", pool.stats().txs),
                    }))
                }
                Ok(d) => {
                    hashes[i] = Some(d.hash);
                    fresh.push((i, d));
                }
            }
        }
    }
    if !fresh.is_empty() {
        // Coalesced with every other admission waiting (one verifier per
        // node: a round already uses every core).
        let verified = match signatures {
            Signatures::Attested => {
                Counters::add(&admission.counters.sigchecks_attested, fresh.len() as u64);
                Ok(vec![true; fresh.len()])
            }
            Signatures::Check => {
                let txs: Vec<_> = fresh.iter().map(|(_, d)| d.tx.clone()).collect();
                Counters::add(&admission.counters.sigchecks_admission, txs.len() as u64);
                admission.verifier.verify(txs).await
            }
        };
        let valid = match verified {
            Ok(valid) => {
                // Only verdicts for every fresh transaction count as checks
                // (a short answer admits nothing, below).
                if signatures == Signatures::Check && valid.len() == fresh.len() {
                    checked_valid = valid.iter().filter(|v| **v).count();
                }
                valid
            }
            Err(e) => {
                if e == VerifyError::Stopped {
                    tracing::error!("signature verification unavailable: {e}");
                }
                for (i, _) in &fresh {
                    verdicts[*i] = Some(Err(Rejection::Busy {
                        what: format!("signature checks: {e}"),
                    }));
                }
                Vec::new()
            }
        };
        // An unverified transaction is never admitted: with no verdicts,
        // `fresh` is emptied here and every one of them stays "busy".
        let fresh: Vec<_> = if valid.len() == fresh.len() {
            fresh
        } else {
            Vec::new()
        };
        let tip = admission.ledger.tip();
        // Read accounts before taking the lock: reads may touch the disk.
        let accounts: Vec<_> = fresh
            .iter()
            .map(|(_, d)| admission.ledger.account(&d.sender))
            .collect();
        let unknown_assets: Vec<Option<AssetCode>> = fresh
            .iter()
            .map(|(_, d)| {
                d.tx.tx
                    .kind
                    .asset()
                    .filter(|a| !admission.ledger.asset_exists(a))
            })
            .collect();
        let mut shared_raws = Vec::new();
        let mut pool = lock(&admission.pool);
        for ((((i, d), ok), account), unknown_asset) in fresh
            .into_iter()
            .zip(valid)
            .zip(accounts)
            .zip(unknown_assets)
        {
            if !ok {
                // Which signature failed: checked again only for the
                // failures, so the wallet learns whether its own key or
                // its institution's co-signature is wrong.
                let sender_ok = d.tx.tx.sender.verify(&d.hash.0, &d.tx.signature).is_ok();
                verdicts[i] = Some(Err(match (sender_ok, &d.tx.tx.cosigner) {
                    (true, Some(cosigner)) => Rejection::CosignatureInvalid {
                        cosigner: cosigner.to_hex(),
                    },
                    _ => Rejection::BadSignature,
                }));
                bad_signatures.push(d.hash);
                continue;
            }
            if let Some(asset) = unknown_asset {
                verdicts[i] = Some(Err(Rejection::UnknownAsset {
                    asset: asset.to_string(),
                }));
                continue;
            }
            let hash = d.hash;
            verdicts[i] = Some(match pool.insert(d, account.as_ref(), tip) {
                Ok(true) => {
                    if source == Source::Client {
                        shared_raws.push(raws[i].clone());
                    }
                    Ok(hash)
                }
                Ok(false) => Ok(hash),
                Err(e) => Err(e),
            });
        }
        drop(pool);
        if !shared_raws.is_empty() {
            for chunk in shared_raws.chunks(TXS_BATCH_MAX) {
                admission.outlets.share(chunk.to_vec());
            }
        }
    }
    let verdicts: Vec<Result<Hash, Rejection>> = verdicts
        .into_iter()
        .map(|v| {
            v.unwrap_or(Err(Rejection::Busy {
                what: "internal".into(),
            }))
        })
        .collect();
    let mut admitted = 0;
    for (v, hash) in verdicts.iter().zip(&hashes) {
        match v {
            Ok(_) => admitted += 1,
            Err(e) => {
                admission.counters.reject(e.code());
                if let Some(h) = hash {
                    lock(&admission.rejections).insert(*h, e.clone());
                }
            }
        }
    }
    Counters::add(&admission.counters.submitted_txs, raws.len() as u64);
    if admitted > 0 {
        admission.outlets.pool_grew();
    }
    Admitted {
        all_checked_valid: checked_valid == verdicts.len() && bad_signatures.is_empty(),
        verdicts,
        bad_signatures,
    }
}
