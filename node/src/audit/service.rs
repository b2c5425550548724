//! What only a regulator node runs: the risk detector fed with every
//! executed block, the gate of the audit API, and the announcement of
//! alerts to subscribers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hutong_audit::alerts::Limits;
use hutong_audit::auth::Gate;
use hutong_audit::{
    edge_key, edges_of_block, Alert, AlertConfig, AllowEntry, AuditWrite, Detector, EdgeKind, Names,
};
use hutong_consensus::types::Block;
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::{AccountKind, AssetLimits, StateKey, StateValue};
use hutong_runtime::{Account, Address, AssetCode, Params, Receipt};
use hutong_wire::payload::Payload;
use tokio::sync::broadcast;

use super::index;
use crate::store::{Db, DbError};
use hutong_host::util::lock;

/// Most blocks replayed into the detector on start (with the legs' bound
/// below, what a restart may cost: the replay runs at some ten thousand
/// legs a second).
const REPLAY_BLOCKS_MAX: u64 = 1_000_000;

/// Most legs replayed into the detector on start.
const REPLAY_EDGES_MAX: usize = 2_000_000;

/// What only a regulator node has.
#[derive(Debug)]
pub struct AuditNode {
    pub gate: Gate,
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
        let mut detector = Detector::new(config, &assets)
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
            let limits = DbLimits {
                db,
                params: &genesis.params,
                overrides: &HashMap::new(),
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
        Ok(AuditNode {
            gate: Gate::new(genesis.chain_id(), regulators),
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
        let limits = DbLimits {
            db,
            params,
            overrides: &overrides,
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
                if let Some(owner) = limits.owner(&e.to) {
                    owners.push((owner, e.to));
                }
            }
        }
        Ok(AuditWrite {
            edges,
            alerts,
            first_claim,
            owners,
        })
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
        match self.account(account).ok().flatten()?.kind {
            AccountKind::Customer {
                identity_commitment,
                ..
            } if identity_commitment != Hash::ZERO => Some(identity_commitment),
            _ => None,
        }
    }
}
