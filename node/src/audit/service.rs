//! What only a regulator node runs: the risk detector fed with every
//! executed block, the gate of the audit API, and the announcement of
//! alerts to subscribers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hutong_audit::alerts::Limits;
use hutong_audit::auth::{Gate, RateLimiter};
use hutong_audit::{
    edge_key, edges_of_block, Alert, AlertConfig, AlertKind, AllowEntry, AuditWrite, Detector,
    EdgeKind, Names,
};
use hutong_consensus::types::Block;
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::{AccountKind, AssetLimits, StateKey, StateValue};
use hutong_runtime::{Account, Address, AssetCode, Params, Receipt, TxKind};
use hutong_wire::payload::Payload;
use tokio::sync::broadcast;

use super::index;
use crate::store::{Db, DbError};
use hutong_host::util::lock;

/// Most blocks replayed into the detector on start (with the legs' bound
/// below, what a restart may cost: the replay runs at some ten thousand
/// legs a second).
const REPLAY_BLOCKS_MAX: u64 = 1_000_000;

/// Most owners of recently opened accounts kept in memory.
const RECENT_OWNERS_MAX: usize = 100_000;

/// Most legs replayed into the detector on start.
const REPLAY_EDGES_MAX: usize = 2_000_000;

/// The regulator's identity service: its keys (the OPRF key that makes
/// identity tags, the HPKE key that opens identity envelopes) and the
/// per-key limit on evaluations.
#[derive(Debug)]
pub struct IdentityService {
    pub keys: hutong_privacy::keys::IdentityKeys,
    pub limiter: RateLimiter,
}

impl IdentityService {
    /// Loads the seed file `path` and checks its keys are the ones genesis
    /// publishes.
    pub fn load(
        path: &std::path::Path,
        published: Option<&hutong_runtime::state::IdentityParams>,
        per_minute: u32,
    ) -> anyhow::Result<IdentityService> {
        let seed = crate::keyfile::read(path)?;
        let keys = hutong_privacy::keys::IdentityKeys::from_seed(&seed.secret_bytes())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let public = keys.public();
        match published {
            None => anyhow::bail!(
                "[audit] identity_key is set, but this chain's genesis names no identity service \
                 (no [regulators.identity]); remove the setting"
            ),
            Some(p) if p.oprf_key != public.oprf || p.hpke_key != public.hpke => anyhow::bail!(
                "{} holds identity keys (OPRF {}, HPKE {}) other than the ones genesis publishes \
                 (OPRF {}, HPKE {})",
                path.display(),
                hex::encode(public.oprf),
                hex::encode(public.hpke),
                hex::encode(p.oprf_key),
                hex::encode(p.hpke_key)
            ),
            Some(_) => Ok(IdentityService {
                keys,
                limiter: RateLimiter::new(per_minute),
            }),
        }
    }
}

/// See [`AuditNode::identity_pass`].
#[derive(Debug, Default)]
struct IdentityPass {
    owners: HashMap<Address, Hash>,
    listing_owners: Vec<(Hash, Hash)>,
    findings: Vec<Finding>,
}

/// An identity alert to raise.
#[derive(Debug)]
struct Finding {
    kind: AlertKind,
    account: Address,
    detail: String,
    tx: Hash,
    related: Vec<Address>,
}

/// What only a regulator node has.
#[derive(Debug)]
pub struct AuditNode {
    pub gate: Gate,
    /// The identity service, when this regulator runs it.
    pub identity: Option<IdentityService>,
    /// The chain id (envelopes are bound to it).
    chain_id: hutong_runtime::ChainId,
    /// The owners of recently opened accounts, whose index entries may not
    /// be durable yet when the next blocks' legs are observed (at most
    /// [`RECENT_OWNERS_MAX`], then started afresh: older ones are read
    /// from the database).
    recent_owners: Mutex<HashMap<Address, Hash>>,
    pub names: Names,
    /// The detector (it numbers its alerts).
    detector: Mutex<Detector>,
    /// The regulator's allow-list, as saved.
    allow: Mutex<Vec<AllowEntry>>,
    pub alerts: broadcast::Sender<Arc<Alert>>,
}

impl AuditNode {
    /// Sets up the audit node over `db`: the detector is fed the legs of
    /// its look-back window again, so it resumes where it stopped.
    pub fn open(
        db: &Db,
        genesis: &hutong_genesis::Genesis,
        config: AlertConfig,
    ) -> anyhow::Result<AuditNode> {
        let assets: Vec<(AssetCode, u8)> = genesis
            .assets
            .iter()
            .map(|a| (a.code, a.decimals))
            .collect();
        let mut detector = Detector::new(config.clone(), &assets)
            .map_err(|e| anyhow::anyhow!("the [audit] section: {e}"))?;
        index::index_genesis_owners(db, &genesis.accounts)?;
        for (index, legs) in index::backfill(db)? {
            if legs > 0 {
                tracing::info!(index, legs, "audit: index built for the blocks before it");
            }
        }
        let allow = index::allow_list(db)?;
        detector
            .set_allow_list(allow.clone())
            .map_err(|e| anyhow::anyhow!("the saved allow-list: {e}"))?;
        if let Some(executed) = db.executed()? {
            let since = executed
                .timestamp_ms
                .saturating_sub(detector.config().lookback_ms());
            let start = db
                .height_at_time(since)?
                .max(executed.height.saturating_sub(REPLAY_BLOCKS_MAX));
            let recent = Mutex::default();
            let limits = DbLimits {
                db,
                params: &genesis.params,
                overrides: &HashMap::new(),
                recent: &recent,
            };
            // The newest legs of the window, if it holds more than the
            // replay may take: the detector must resume on what happened
            // last, not on the start of its window.
            let from = edge_key(start, 0, 0);
            let from = match index::newest_edges_start(db, REPLAY_EDGES_MAX)? {
                Some(newest) => newest.max(from),
                None => from,
            };
            let mut replayed = 0usize;
            index::edges_from(db, from, |e| {
                replayed += 1;
                let _ = detector.observe(&e, &limits);
                replayed < REPLAY_EDGES_MAX
            })?;
            tracing::info!(
                replayed,
                from_height = start,
                "audit: risk detector resumed"
            );
        }
        detector.resume(index::last_alert_id(db)? + 1);
        let regulators = genesis.regulators.iter().map(|r| r.key).collect();
        let identity = match &config.identity_key {
            Some(path) => Some(IdentityService::load(
                path,
                genesis.params.identity.as_ref(),
                config.identity_evaluations_per_minute,
            )?),
            None => {
                if genesis.params.identity.is_some() {
                    tracing::warn!(
                        "genesis names an identity service but [audit] identity_key is not set: \
                         this node neither evaluates identity tags nor links accounts by owner"
                    );
                }
                None
            }
        };
        Ok(AuditNode {
            gate: Gate::new(genesis.chain_id(), regulators),
            identity,
            chain_id: genesis.chain_id(),
            recent_owners: Mutex::default(),
            names: Names::new(genesis),
            detector: Mutex::new(detector),
            allow: Mutex::new(allow),
            alerts: broadcast::channel(1_024).0,
        })
    }

    /// The indexes and alerts of one executed block, for its batch.
    /// `earlier` holds the changes of the previous block when it may not be
    /// durable yet (the executor runs one block ahead of the writer), and
    /// `previous_claim` the result height that block carried; without
    /// them, both are read from the database.
    #[allow(clippy::too_many_arguments)]
    pub fn index_block<'a>(
        &self,
        db: &Db,
        params: &Params,
        block: &Block,
        payload: &Payload,
        hashes: &[Hash],
        receipts: &[Receipt],
        changes: &[(StateKey, Option<StateValue>)],
        earlier: impl IntoIterator<Item = (&'a StateKey, &'a Option<StateValue>)>,
        previous_claim: Option<u64>,
    ) -> Result<AuditWrite, DbError> {
        let height = block.height.0;
        let account_of = |(k, v): (&StateKey, &Option<StateValue>)| match (k, v) {
            (StateKey::Account(a), Some(StateValue::Account(acc))) => Some((*a, *acc)),
            _ => None,
        };
        // This block's changes over the previous block's.
        let mut overrides: HashMap<Address, Account> =
            earlier.into_iter().filter_map(account_of).collect();
        overrides.extend(changes.iter().filter_map(|(k, v)| account_of((k, v))));
        // Owners first: a leg of this block may pay an account it opened.
        let pass = self.identity_pass(db, payload, hashes, receipts, changes)?;
        let opened = &pass.owners;
        {
            let mut recent = lock(&self.recent_owners);
            if recent.len() + opened.len() > RECENT_OWNERS_MAX {
                recent.clear();
            }
            recent.extend(opened.iter().map(|(a, o)| (*a, *o)));
        }
        let limits = DbLimits {
            db,
            params,
            overrides: &overrides,
            recent: &self.recent_owners,
        };
        let mut failure = None;
        let mut institution_of = |a: &Address| match limits.account(a) {
            Ok(Some(acc)) => acc.institution,
            Ok(None) => Address::default(),
            Err(e) => {
                failure = Some(e);
                Address::default()
            }
        };
        let edges = edges_of_block(
            height,
            block.timestamp_ms,
            &payload.txs,
            hashes,
            receipts,
            &mut institution_of,
        );
        if let Some(e) = failure {
            return Err(e);
        }
        let mut alerts = Vec::new();
        {
            let mut detector = lock(&self.detector);
            for e in &edges {
                alerts.extend(detector.observe(e, &limits));
            }
            for f in &pass.findings {
                let institution = limits
                    .account(&f.account)?
                    .map(|a| a.institution)
                    .unwrap_or_default();
                alerts.push(detector.raise_identity(
                    f.kind,
                    &f.account,
                    &institution,
                    height,
                    block.timestamp_ms,
                    f.detail.clone(),
                    &[f.tx],
                    &f.related,
                ));
            }
        }
        let claim = payload.result.height;
        let previous = match (previous_claim, height.checked_sub(1)) {
            (Some(claim), _) => Some(claim),
            (None, Some(h)) => db.block_at(h)?.map(|s| s.payload.result.height),
            (None, None) => None,
        };
        let first_claim = previous.is_none_or(|p| claim > p).then_some(claim);
        // The owners of the accounts this block opened.
        let mut owners = Vec::new();
        for e in &edges {
            if e.kind == EdgeKind::OpenAccount && e.succeeded() {
                if let Some(owner) = opened.get(&e.to).copied().or_else(|| limits.owner(&e.to)) {
                    owners.push((owner, e.to));
                }
            }
        }
        Ok(AuditWrite {
            edges,
            alerts,
            first_claim,
            owners,
            listing_owners: pass.listing_owners,
        })
    }

    /// What the identity service learns from a block: the owners of the
    /// accounts it opened (from the envelopes this node opens), their
    /// listing keys, and the findings to raise: an account opened for a
    /// listed owner, an owner with accounts listed, an envelope that does
    /// not open or does not match its commitment (that account is then
    /// its own owner here), a memo the regulator's key does not open.
    fn identity_pass(
        &self,
        db: &Db,
        payload: &Payload,
        hashes: &[Hash],
        receipts: &[Receipt],
        changes: &[(StateKey, Option<StateValue>)],
    ) -> Result<IdentityPass, DbError> {
        let mut pass = IdentityPass::default();
        let Some(service) = &self.identity else {
            return Ok(pass);
        };
        // Listed now: this block's changes over the database.
        let listed = |key: &Hash| -> Result<bool, DbError> {
            let k = StateKey::Listing(*key);
            if let Some((_, v)) = changes.iter().rev().find(|(ck, _)| *ck == k) {
                return Ok(v.is_some());
            }
            Ok(matches!(db.state(&k)?, Some(StateValue::Listing(_))))
        };
        for ((stx, receipt), hash) in payload.txs.iter().zip(receipts).zip(hashes) {
            let tx = &stx.tx;
            // A memo in clear the ledger refused (`memo_not_sealed`) is
            // its receipt's business, not an alert.
            let refused_clear = matches!(
                receipt.failure(),
                Some(hutong_runtime::FailureReason::MemoNotSealed)
            );
            if !tx.memo.is_empty() && !refused_clear {
                let context = hutong_privacy::envelope::memo_context(
                    &self.chain_id.0,
                    &tx.sender.0,
                    tx.sequence.0,
                );
                if let Err(e) =
                    hutong_privacy::envelope::open_memo(&service.keys.hpke, &context, &tx.memo)
                {
                    pass.findings.push(Finding {
                        kind: AlertKind::MemoUnreadable,
                        account: tx.sender_address(),
                        detail: format!(
                            "the memo of transaction {hash} does not open with the regulator's key ({}): \
                             its sender left the regulator out of its readers",
                            e.code()
                        ),
                        tx: *hash,
                        related: Vec::new(),
                    });
                }
            }
            if !receipt.is_success() {
                continue;
            }
            match &tx.kind {
                TxKind::OpenAccount {
                    owner,
                    identity_commitment,
                    identity_envelope,
                    ..
                } if !identity_envelope.is_empty() => {
                    let account = Address::of(owner);
                    match hutong_privacy::envelope::open_identity(
                        &service.keys.hpke,
                        &self.chain_id.0,
                        &owner.0,
                        identity_envelope,
                        identity_commitment,
                    ) {
                        Ok(tag) => {
                            let owner_id = tag.owner();
                            let listing = tag.listing_key();
                            pass.owners.insert(account, owner_id);
                            pass.listing_owners.push((listing, owner_id));
                            if listed(&listing)? {
                                pass.findings.push(Finding {
                                    kind: AlertKind::ListedOwner,
                                    account,
                                    detail: format!(
                                        "account opened by {} for an owner on the shared blacklist \
                                         (listing {listing})",
                                        tx.sender_address()
                                    ),
                                    tx: *hash,
                                    related: Vec::new(),
                                });
                            }
                        }
                        Err(e) => {
                            tracing::warn!(
                                %account,
                                institution = %tx.sender_address(),
                                code = e.code(),
                                "identity envelope of a new account: {e}"
                            );
                            pass.findings.push(Finding {
                                kind: AlertKind::IdentityUnverified,
                                account,
                                detail: format!(
                                    "the identity envelope of the account {} opened does not verify \
                                     ({}): {e}",
                                    tx.sender_address(),
                                    e.code()
                                ),
                                tx: *hash,
                                related: Vec::new(),
                            });
                        }
                    }
                }
                TxKind::ListIdentity { listing_key, .. } => {
                    let owner = match pass.listing_owners.iter().find(|(l, _)| l == listing_key) {
                        Some((_, o)) => Some(*o),
                        None => index::listing_owner(db, listing_key)?,
                    };
                    let Some(owner) = owner else {
                        continue;
                    };
                    let mut accounts: Vec<Address> = pass
                        .owners
                        .iter()
                        .filter(|(_, o)| **o == owner)
                        .map(|(a, _)| *a)
                        .collect();
                    index::owner_accounts(db, &owner, None, |a, _| {
                        if !accounts.contains(&a) {
                            accounts.push(a);
                        }
                        accounts.len() < 64
                    })?;
                    accounts.sort();
                    if let Some(first) = accounts.first() {
                        pass.findings.push(Finding {
                            kind: AlertKind::ListedOwner,
                            account: *first,
                            detail: format!(
                                "{} listed an owner who holds {} account(s) (listing {listing_key})",
                                tx.sender_address(),
                                accounts.len()
                            ),
                            tx: *hash,
                            related: accounts[1..].to_vec(),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(pass)
    }

    /// The regulator's allow-list.
    pub fn allow_list(&self) -> Vec<AllowEntry> {
        lock(&self.allow).clone()
    }

    /// Replaces the allow-list: checked by the detector, saved, then in
    /// force from the next leg.
    pub fn set_allow_list(&self, db: &Db, entries: Vec<AllowEntry>) -> Result<(), String> {
        let mut allow = lock(&self.allow);
        // Checked by a detector first, then saved, then in force: a list
        // that could not be saved never applies.
        Detector::new(lock(&self.detector).config().clone(), &[])?
            .set_allow_list(entries.clone())?;
        index::save_allow_list(db, &entries).map_err(|e| format!("cannot save it: {e}"))?;
        lock(&self.detector).set_allow_list(entries.clone())?;
        *allow = entries;
        Ok(())
    }

    /// Announces a durable block's alerts to subscribers.
    pub fn publish(&self, alerts: Vec<Alert>) {
        let listened = self.alerts.receiver_count() > 0;
        for a in alerts {
            if a.revision == 0 {
                tracing::warn!(
                    id = a.id,
                    kind = a.kind.name(),
                    account = %a.account,
                    score = a.score,
                    height = a.height,
                    "risk alert: {}",
                    a.detail
                );
            }
            if listened {
                let _ = self.alerts.send(Arc::new(a));
            }
        }
    }
}

/// Account lookups for indexing: this block's new account records first,
/// then the database.
struct DbLimits<'a> {
    db: &'a Db,
    params: &'a Params,
    overrides: &'a HashMap<Address, Account>,
    recent: &'a Mutex<HashMap<Address, Hash>>,
}

impl DbLimits<'_> {
    fn account(&self, a: &Address) -> Result<Option<Account>, DbError> {
        if let Some(acc) = self.overrides.get(a) {
            return Ok(Some(*acc));
        }
        match self.db.state(&StateKey::Account(*a))? {
            Some(StateValue::Account(acc)) => Ok(Some(acc)),
            _ => Ok(None),
        }
    }
}

impl Limits for DbLimits<'_> {
    fn customer_limits(&self, account: &Address, asset: AssetCode) -> Option<AssetLimits> {
        match self.account(account).ok().flatten()?.kind {
            AccountKind::Customer { tier, .. } => self.params.limits(tier, asset).copied(),
            _ => None,
        }
    }

    /// The identity commitment links one owner's accounts when the
    /// institutions formed it the same way (the same salt for the same
    /// person); the zero commitment links nothing.
    fn freeze_reason(&self, account: &Address) -> Option<hutong_runtime::tx::FreezeReason> {
        Some(self.account(account).ok().flatten()?.frozen?.reason)
    }

    fn owner(&self, account: &Address) -> Option<Hash> {
        if let Some(owner) = lock(self.recent).get(account) {
            return Some(*owner);
        }
        if let Ok(Some(owner)) = self
            .db
            .rocks()
            .get_pinned_cf(self.db.cf(index::AUDIT_ACCOUNT_OWNERS), account.0)
        {
            if let Ok(owner) = <[u8; 32]>::try_from(owner.as_ref()) {
                return Some(Hash(owner));
            }
        }
        match self.account(account).ok().flatten()?.kind {
            AccountKind::Customer {
                identity_commitment,
                ..
            } if identity_commitment != Hash::ZERO => Some(identity_commitment),
            _ => None,
        }
    }
}
