//! Proofs a third party checks offline, with nothing but the genesis.
//!
//! - A **transaction proof**: the signed transaction, its Merkle path to
//!   the block's transactions root, the payload header that the block's
//!   payload digest commits to, and the chain of block headers from that
//!   block to the quorum certificate that committed it (2f + 1 validator
//!   signatures, checked against that epoch's validator set). When the
//!   block's execution result is certified already, the receipt comes
//!   with it: its path to the receipts root, and that root's certificate.
//! - A **balance proof**: a state proof (`hutong_runtime::tree`) of one
//!   account's balance of one asset under the state root of a height, and
//!   the certificate of that state root: the later block whose payload
//!   carries it, with that block's commit chain.
//!
//! - **Epoch handoffs**, one per validator-set change before the proven
//!   block's epoch: the genesis names the first set; each later set is
//!   read from a consortium record that the set before it certified. The
//!   ledger puts a new set in force only at the first block certifying a
//!   state in which the change waits (`hutong_runtime::governance`), so
//!   that block, committed by the old set, carries a state root whose
//!   consortium record names the new set exactly. The checker follows the
//!   chain of sets from the genesis without executing anything.
//!
//! The file is pretty-printed JSON: a human summary (`claims`) and the
//! proof itself (`proof`, lowercase hex of its borsh encoding). The checker
//! recomputes the summary from the proof and requires the file to be
//! byte-for-byte the canonical rendering, so changing any byte of it
//! (a digit of the summary, a hex digit, even whitespace) is caught.

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_consensus::types::{Block, Epoch, QuorumCert};
use hutong_consensus::validators::ValidatorSet;
use hutong_genesis::Genesis;
use hutong_runtime::block::{receipt_leaf, verify_tx_inclusion};
use hutong_runtime::crypto::Hash;
use hutong_runtime::merkle::InclusionProof;
use hutong_runtime::receipt::Outcome;
use hutong_runtime::recovery::RecoveryStatement;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::StateProof;
use hutong_runtime::{Address, AssetCode, Receipt, SignedTransaction, TxKind};
use serde_json::{json, Value};

use hutong_wire::payload::{Payload, ResultClaim};
use hutong_wire::{genesis_block_id, Membership, NodeVerifier, GENESIS_EPOCH};

/// v2: the proof carries epoch handoffs (v1 knew only the genesis set);
/// v3: a handoff may be a recovery (the members' signed statement).
pub const FORMAT: &str = "hutong-audit-proof/3";

/// Most block headers between a block and the certificate committing it.
pub const CHAIN_BLOCKS_MAX: usize = 10_000;
/// Most validator-set changes a proof follows.
pub const EPOCHS_MAX: usize = 4_096;
/// Largest proof file the checker reads.
pub const FILE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Blocks from the proven one (first) to the last of its committed run,
/// each the parent of the next, and the certificate that commits the last
/// (a quorum's votes on its child, two-chain rule).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommitChain {
    pub blocks: Vec<Block>,
    pub cert: QuorumCert,
}

/// What a block's payload digest commits to, without the transactions.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct PayloadHeader {
    pub result: ResultClaim,
    pub tx_root: Hash,
    pub tx_count: u64,
}

/// An execution result (state root and receipts root of a height), as
/// certified by the committed block whose payload carries it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CertifiedResult {
    pub carrier: PayloadHeader,
    pub chain: CommitChain,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ReceiptProof {
    pub receipt: Receipt,
    pub path: InclusionProof,
    pub certified: CertifiedResult,
}

/// How one epoch's validator set follows from the one before: the old
/// epoch's last block (first in `chain`, committed by the old set), the
/// header of its payload (whose result claim names a state root), and the
/// consortium record under that root, in which the change waits; or, for
/// an epoch that ended by recovery, whose members signed `recovery`.
#[derive(Debug, BorshSerialize, BorshDeserialize)]
pub struct EpochHandoff {
    pub chain: CommitChain,
    pub carrier: PayloadHeader,
    pub consortium: StateProof,
    pub recovery: Option<RecoveryStatement>,
}

/// A proof: the handoffs from the genesis set to the sets its
/// certificates need, then what is proven.
#[derive(Debug, BorshSerialize, BorshDeserialize)]
pub struct AuditProof {
    pub epochs: Vec<EpochHandoff>,
    pub body: Proven,
}

// Built once per request and written out: the variants' sizes do not
// matter, and boxing them would only add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, BorshSerialize, BorshDeserialize)]
pub enum Proven {
    Transaction {
        tx: SignedTransaction,
        path: InclusionProof,
        header: PayloadHeader,
        chain: CommitChain,
        receipt: Option<ReceiptProof>,
    },
    Balance {
        state: StateProof,
        certified: CertifiedResult,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("the proof file is malformed: {0}")]
    Malformed(String),
    #[error("the proof file is not in its canonical form (was it edited?): {0}")]
    NotCanonical(String),
    #[error("the proof is for chain {got}, not this genesis' chain {expected}")]
    WrongChain { expected: String, got: String },
    #[error("the proof does not hold: {0}")]
    Invalid(String),
    #[error("cannot build the proof: {0}")]
    Unavailable(String),
    /// The node's database failed while building a proof.
    #[error("database: {0}")]
    Store(String),
}

fn invalid(s: impl Into<String>) -> ProofError {
    ProofError::Invalid(s.into())
}

/// The validator set of the first epoch.
pub fn genesis_validators(genesis: &Genesis) -> Result<ValidatorSet, ProofError> {
    let keys = genesis.validators().map(|m| m.node_key.0).collect();
    ValidatorSet::new(GENESIS_EPOCH, keys, genesis_block_id(genesis.chain_id()))
        .map_err(|e| ProofError::Malformed(format!("genesis validator set: {e}")))
}

/// The validator sets of the first epochs, in order: the genesis set, then
/// one more per handoff, each checked with the set before it.
#[derive(Debug)]
pub struct EpochSets(Vec<ValidatorSet>);

impl EpochSets {
    pub fn follow(genesis: &Genesis, handoffs: &[EpochHandoff]) -> Result<EpochSets, ProofError> {
        if handoffs.len() > EPOCHS_MAX {
            return Err(invalid(format!(
                "{} epoch handoffs; a proof follows at most {EPOCHS_MAX}",
                handoffs.len()
            )));
        }
        let mut sets = Vec::with_capacity(handoffs.len() + 1);
        sets.push(genesis_validators(genesis)?);
        for h in handoffs {
            let current = sets.last().expect("the genesis set is first");
            let next = h.next_set(current, genesis.chain_id())?;
            sets.push(next);
        }
        Ok(EpochSets(sets))
    }

    /// The set of `epoch`, if the handoffs reach it.
    fn of(&self, epoch: Epoch) -> Result<&ValidatorSet, ProofError> {
        self.0.iter().find(|s| s.epoch() == epoch).ok_or_else(|| {
            invalid(format!(
                "a certificate is of epoch {}, but the proof's epoch handoffs reach only epoch {}",
                epoch.0,
                self.0
                    .last()
                    .map(|s| s.epoch().0)
                    .unwrap_or(GENESIS_EPOCH.0)
            ))
        })
    }
}

impl EpochHandoff {
    /// The set that follows `current`: read from the consortium record
    /// under the state root that `current` certified in its last block, or
    /// from the recovery statement that record's members signed.
    pub fn next_set(
        &self,
        current: &ValidatorSet,
        chain_id: hutong_runtime::ChainId,
    ) -> Result<ValidatorSet, ProofError> {
        let last = self.chain.verify(current)?;
        self.carrier.check_against(last)?;
        let claim = &self.carrier.result;
        if self.consortium.key != StateKey::Consortium {
            return Err(invalid(
                "an epoch handoff proves a state entry other than the consortium record",
            ));
        }
        self.consortium
            .verify(&claim.state_root)
            .map_err(|e| invalid(format!("epoch handoff: {e}")))?;
        let Some(StateValue::Consortium(c)) = &self.consortium.value else {
            return Err(invalid(
                "an epoch handoff's state proof holds no consortium record",
            ));
        };
        if Membership::epoch_of(c) != current.epoch() {
            return Err(invalid(format!(
                "an epoch handoff's consortium record is of epoch {}, not {}",
                Membership::epoch_of(c).0,
                current.epoch().0
            )));
        }
        let next = Epoch(current.epoch().0.saturating_add(1));
        if let Some(statement) = &self.recovery {
            return recovered_set(statement, c, last, claim, next, chain_id);
        }
        // A waiting change fixes the next set: while it waits, no other
        // change to the set is executed, and the first block certifying
        // it ends the epoch with exactly these validators.
        if c.set_change_pending.is_none_or(|h| h.0 > claim.height) {
            return Err(invalid(format!(
                "the state certified in block {} has no validator-set change waiting: the epoch does not end there",
                last.height
            )));
        }
        ValidatorSet::next_epoch(
            next,
            c.validator_keys().iter().map(|k| k.0).collect(),
            last.id(),
            last.height,
        )
        .map_err(|e| invalid(format!("the validator set of epoch {}: {e}", next.0)))
    }
}

/// The set a recovery statement starts: it must name the block the old
/// set committed last (`last`), for this chain and the record's epoch,
/// and more than two thirds of the record's members must have signed it.
/// The record is the last one the old set certified (`claim`'s height, at
/// or below the named block): the members a third party can know.
fn recovered_set(
    statement: &RecoveryStatement,
    c: &hutong_runtime::governance::Consortium,
    last: &Block,
    claim: &ResultClaim,
    next: Epoch,
    chain_id: hutong_runtime::ChainId,
) -> Result<ValidatorSet, ProofError> {
    let plan = &statement.plan;
    let refused = |e: hutong_runtime::recovery::RecoveryError| {
        invalid(format!("recovery statement: {e} ({})", e.code()))
    };
    statement.check_bounds().map_err(refused)?;
    plan.check_chain(chain_id).map_err(refused)?;
    if plan.block_id.0 != last.id().0 || plan.height.0 != last.height.0 {
        return Err(invalid(format!(
            "the recovery statement names block {} at height {}, not the old set's last block {} at {}",
            plan.block_id,
            plan.height.0,
            hex::encode(last.id().0),
            last.height.0
        )));
    }
    if claim.height > plan.height.0 {
        return Err(invalid(
            "the recovery's consortium record is from above the block it recovers from",
        ));
    }
    hutong_runtime::recovery::check_signers(c, statement).map_err(refused)?;
    let keys = hutong_runtime::recovery::new_validators(c, plan).map_err(refused)?;
    ValidatorSet::next_epoch(
        next,
        keys.iter().map(|k| k.0).collect(),
        last.id(),
        last.height,
    )
    .map_err(|e| invalid(format!("the validator set of epoch {}: {e}", next.0)))
}

impl CommitChain {
    /// Checks the hash chain and the certificate; the first block is then
    /// committed.
    pub fn verify(&self, validators: &ValidatorSet) -> Result<&Block, ProofError> {
        let (Some(first), Some(last)) = (self.blocks.first(), self.blocks.last()) else {
            return Err(invalid("the commit chain has no block"));
        };
        if self.blocks.len() > CHAIN_BLOCKS_MAX {
            return Err(invalid("the commit chain is too long"));
        }
        for b in &self.blocks {
            if b.epoch != validators.epoch() {
                return Err(invalid(format!(
                    "block at height {} is of epoch {}, not epoch {}",
                    b.height,
                    b.epoch,
                    validators.epoch()
                )));
            }
        }
        for pair in self.blocks.windows(2) {
            if pair[1].parent_id() != pair[0].id()
                || Some(pair[1].height.0) != pair[0].height.0.checked_add(1)
            {
                return Err(invalid(format!(
                    "block at height {} is not the child of the block before it",
                    pair[1].height
                )));
            }
        }
        if self.cert.data.commits() != Some(last.id()) || self.cert.data.epoch != last.epoch {
            return Err(invalid(
                "the certificate does not commit the last block of the chain",
            ));
        }
        validators
            .verify_qc(&self.cert, &NodeVerifier)
            .map_err(|e| invalid(format!("the commit certificate does not verify: {e:?}")))?;
        Ok(first)
    }
}

impl PayloadHeader {
    /// The header of a payload: what its digest commits to.
    pub fn of(payload: &Payload) -> PayloadHeader {
        PayloadHeader {
            result: payload.result,
            tx_root: hutong_runtime::block::tx_root(&payload.txs),
            tx_count: payload.txs.len() as u64,
        }
    }

    fn check_against(&self, block: &Block) -> Result<(), ProofError> {
        if Payload::digest_of(&self.result, &self.tx_root, self.tx_count) != block.payload {
            return Err(invalid(format!(
                "the payload header does not match block {}'s payload digest",
                block.height
            )));
        }
        Ok(())
    }
}

impl CommitChain {
    /// [`CommitChain::verify`] with the set of its blocks' epoch.
    pub fn verify_in(&self, sets: &EpochSets) -> Result<&Block, ProofError> {
        let epoch = self
            .blocks
            .first()
            .map(|b| b.epoch)
            .ok_or_else(|| invalid("the commit chain has no block"))?;
        self.verify(sets.of(epoch)?)
    }
}

impl CertifiedResult {
    fn verify(&self, sets: &EpochSets) -> Result<&ResultClaim, ProofError> {
        let carrier = self.chain.verify_in(sets)?;
        self.carrier.check_against(carrier)?;
        Ok(&self.carrier.result)
    }
}

fn outcome_json(r: &Receipt) -> Value {
    match &r.outcome {
        Outcome::Success { .. } => json!({"success": true}),
        Outcome::Failed { reason } => json!({"success": false, "code": reason.code()}),
        Outcome::LegFailed { leg, reason } => {
            json!({"success": false, "code": reason.code(), "failed_leg": leg})
        }
    }
}

/// What a transaction does, for a reader: amounts in minor units and as
/// decimals of their asset.
fn kind_json(kind: &TxKind, names: &crate::names::Names) -> Value {
    let amount = |asset: &AssetCode, a: &hutong_runtime::Amount| json!({"asset": asset.to_string(), "minor_units": a.0.to_string(), "display": names.display(asset, a.0)});
    match kind {
        TxKind::Transfer {
            to,
            asset,
            amount: a,
            transfer_id,
        } => json!({
            "type": kind.name(),
            "to": to.to_string(),
            "amount": amount(asset, a),
            "transfer_id": transfer_id.to_string(),
        }),
        TxKind::BatchTransfer {
            asset,
            payouts,
            transfer_id,
        } => json!({
            "type": kind.name(),
            "payouts": payouts
                .iter()
                .map(|p| json!({"to": p.to.to_string(), "amount": amount(asset, &p.amount)}))
                .collect::<Vec<_>>(),
            "transfer_id": transfer_id.to_string(),
        }),
        TxKind::OpenAccount {
            owner,
            tier,
            identity_commitment,
            ..
        } => json!({
            "type": kind.name(),
            "account": Address::of(owner).to_string(),
            "tier": tier.0,
            "identity_commitment": identity_commitment.to_string(),
        }),
        TxKind::SetTier { account, tier } => json!({
            "type": kind.name(),
            "account": account.to_string(),
            "tier": tier.0,
        }),
        TxKind::Freeze { account, reason } => json!({
            "type": kind.name(),
            "account": account.to_string(),
            "reason": reason.name(),
        }),
        TxKind::Unfreeze { account } => json!({
            "type": kind.name(),
            "account": account.to_string(),
        }),
        TxKind::Mint {
            to,
            asset,
            amount: a,
        } => json!({
            "type": kind.name(),
            "to": to.to_string(),
            "amount": amount(asset, a),
        }),
        TxKind::Burn { asset, amount: a } => json!({
            "type": kind.name(),
            "amount": amount(asset, a),
        }),
        TxKind::Propose {
            actions,
            voting_period_ms,
        } => json!({
            "type": kind.name(),
            "actions": actions
                .iter()
                .map(hutong_wire::gov::ActionView::from)
                .collect::<Vec<_>>(),
            "voting_period_ms": voting_period_ms,
        }),
        TxKind::Vote { proposal, approve } => json!({
            "type": kind.name(),
            "proposal": proposal,
            "approve": approve,
        }),
        TxKind::Withdraw { proposal } => json!({
            "type": kind.name(),
            "proposal": proposal,
        }),
        TxKind::AnchorAuditLog { entries, head } => json!({
            "type": kind.name(),
            "entries": entries,
            "head": head.to_string(),
        }),
        TxKind::Hold {
            to,
            asset,
            amount: a,
            hold_id,
            expires_at,
        } => json!({
            "type": kind.name(),
            "to": to.to_string(),
            "amount": amount(asset, a),
            "hold_id": hold_id.to_string(),
            "expires_at_ms": expires_at.0,
        }),
        TxKind::Capture {
            payer,
            hold_id,
            amount: a,
        } => json!({
            "type": kind.name(),
            "payer": payer.to_string(),
            "hold_id": hold_id.to_string(),
            "minor_units": a.0.to_string(),
        }),
        TxKind::Void { payer, hold_id } => json!({
            "type": kind.name(),
            "payer": payer.to_string(),
            "hold_id": hold_id.to_string(),
        }),
        TxKind::FreezeAmount {
            account,
            asset,
            amount: a,
            freeze_id,
            reason,
            reference,
            expires_at,
        } => json!({
            "type": kind.name(),
            "account": account.to_string(),
            "amount": amount(asset, a),
            "freeze_id": freeze_id,
            "reason": reason.name(),
            "reference": String::from_utf8_lossy(reference),
            "expires_at_ms": expires_at.map(|t| t.0),
        }),
        TxKind::ReleaseFreeze { account, freeze_id } => json!({
            "type": kind.name(),
            "account": account.to_string(),
            "freeze_id": freeze_id,
        }),
        TxKind::SetAccountState {
            account,
            state,
            reason,
            reference,
            expires_at,
        } => json!({
            "type": kind.name(),
            "account": account.to_string(),
            "state": state.name(),
            "reason": reason.name(),
            "reference": String::from_utf8_lossy(reference),
            "expires_at_ms": expires_at.map(|t| t.0),
        }),
        TxKind::RegisterDevice {
            key,
            asset,
            max_per_hold,
            daily_max,
            payees,
        } => json!({
            "type": kind.name(),
            "device": Address::of(key).to_string(),
            "max_per_hold": amount(asset, max_per_hold),
            "daily_max": amount(asset, daily_max),
            "payees": payees.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        }),
        TxKind::RevokeDevice { key } => json!({
            "type": kind.name(),
            "device": Address::of(key).to_string(),
        }),
        TxKind::Linked { legs } => json!({
            "type": kind.name(),
            "legs": legs
                .iter()
                .map(|op| kind_json(&op.kind(), names))
                .collect::<Vec<_>>(),
        }),
        TxKind::Pvp {
            quote,
            pay,
            min_receive,
            to,
            transfer_id,
            ..
        } => json!({
            "type": kind.name(),
            "provider": quote.provider.to_string(),
            "quote_id": quote.quote_id,
            "rate": {"num": quote.rate.num.to_string(), "den": quote.rate.den.to_string()},
            "pay": amount(&quote.sell, pay),
            "min_receive": amount(&quote.buy, min_receive),
            "to": to.to_string(),
            "quote_expires_at_ms": quote.expires_at.0,
            "transfer_id": transfer_id.to_string(),
        }),
        TxKind::GrantMandate {
            mandate_id,
            grantee,
            scope,
            asset,
            payees,
            per_payment,
            per_period,
            period_seconds,
            start,
            end,
        } => json!({
            "type": kind.name(),
            "mandate_id": mandate_id,
            "grantee": grantee.to_string(),
            "scope": scope.name(),
            "per_payment": amount(asset, per_payment),
            "per_period": amount(asset, per_period),
            "period_seconds": period_seconds,
            "payees": payees.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "start_ms": start.0,
            "end_ms": end.0,
        }),
        TxKind::RevokeMandate { mandate_id } => json!({
            "type": kind.name(),
            "mandate_id": mandate_id,
        }),
        TxKind::ListIdentity {
            listing_key,
            reason,
            reference,
        } => json!({
            "type": kind.name(),
            "listing_key": listing_key.to_string(),
            "reason": reason.name(),
            "reference": String::from_utf8_lossy(reference),
        }),
        TxKind::DelistIdentity { listing_key } => json!({
            "type": kind.name(),
            "listing_key": listing_key.to_string(),
        }),
        TxKind::SetMemoKey { key } => json!({
            "type": kind.name(),
            "key": hex::encode(key),
        }),
        TxKind::MandatePay {
            payer,
            mandate_id,
            to,
            asset,
            amount: a,
            transfer_id,
        } => json!({
            "type": kind.name(),
            "payer": payer.to_string(),
            "mandate_id": mandate_id,
            "to": to.to_string(),
            "amount": amount(asset, a),
            "transfer_id": transfer_id.to_string(),
        }),
    }
}

impl AuditProof {
    /// Checks every link against the genesis; returns the summary of what
    /// is proven.
    pub fn verify(&self, genesis: &Genesis) -> Result<Value, ProofError> {
        let sets = EpochSets::follow(genesis, &self.epochs)?;
        let mut summary = self.body.verify(genesis, &sets)?;
        summary["epoch_handoffs"] = json!(self.epochs.len());
        Ok(summary)
    }

    fn kind(&self) -> &'static str {
        match self.body {
            Proven::Transaction { .. } => "transaction",
            Proven::Balance { .. } => "balance",
        }
    }
}

impl Proven {
    fn verify(&self, genesis: &Genesis, sets: &EpochSets) -> Result<Value, ProofError> {
        let chain_id = genesis.chain_id();
        match self {
            Proven::Transaction {
                tx,
                path,
                header,
                chain,
                receipt,
            } => {
                if tx.tx.chain_id != chain_id {
                    return Err(invalid("the transaction is signed for another chain"));
                }
                let block = chain.verify_in(sets)?;
                header.check_against(block)?;
                verify_tx_inclusion(tx, path, &header.tx_root, header.tx_count)
                    .map_err(|e| invalid(format!("transaction inclusion: {e}")))?;
                let mut summary = json!({
                    "tx_hash": tx.hash().to_string(),
                    "sender": tx.tx.sender_address().to_string(),
                    "kind": kind_json(&tx.tx.kind, &crate::names::Names::new(genesis)),
                    "height": block.height.0,
                    "epoch": block.epoch.0,
                    "index": path.index,
                    "block_id": hex::encode(block.id().0),
                    "block_time_ms": block.timestamp_ms,
                    "certified_by": cert_summary(&chain.cert),
                    "outcome": Value::Null,
                });
                if let Some(r) = receipt {
                    if r.receipt.tx_hash != tx.hash() {
                        return Err(invalid("the receipt is for another transaction"));
                    }
                    let claim = r.certified.verify(sets)?;
                    if claim.height != block.height.0 {
                        return Err(invalid(format!(
                            "the receipts root is certified for height {}, the transaction is at {}",
                            claim.height, block.height
                        )));
                    }
                    if r.path.index != path.index || r.path.size != header.tx_count {
                        return Err(invalid("the receipt is not at the transaction's position"));
                    }
                    r.path
                        .verify(&receipt_leaf(&r.receipt), &claim.receipts_root)
                        .map_err(|e| invalid(format!("receipt inclusion: {e}")))?;
                    summary["outcome"] = outcome_json(&r.receipt);
                }
                Ok(summary)
            }
            Proven::Balance { state, certified } => {
                let claim = certified.verify(sets)?;
                state
                    .verify(&claim.state_root)
                    .map_err(|e| invalid(e.to_string()))?;
                let StateKey::Balance(account, asset) = state.key else {
                    return Err(invalid("the state proof is not about a balance"));
                };
                let balance = match &state.value {
                    None => 0,
                    Some(StateValue::Balance(h)) => h.balance.0,
                    Some(_) => return Err(invalid("the proven value is not a balance")),
                };
                Ok(json!({
                    "account": account.to_string(),
                    "asset": asset.to_string(),
                    "balance": balance.to_string(),
                    "height": claim.height,
                    "state_root": claim.state_root.to_string(),
                    "certified_in_block": certified.chain.blocks.first().map(|b| b.height.0),
                    "certified_in_epoch": certified.chain.blocks.first().map(|b| b.epoch.0),
                    "certified_by": cert_summary(&certified.chain.cert),
                }))
            }
        }
    }
}

fn cert_summary(qc: &QuorumCert) -> Value {
    json!({
        "round": qc.data.round.0,
        "signers": qc.signers.iter().map(|s| s.0).collect::<Vec<_>>(),
    })
}

/// Renders a proof file: the canonical pretty JSON, with a final newline.
pub fn render_file(proof: &AuditProof, genesis: &Genesis) -> Result<String, ProofError> {
    let claims = proof.verify(genesis)?;
    let value = json!({
        "format": FORMAT,
        "chain_id": genesis.chain_id().to_string(),
        "kind": proof.kind(),
        "claims": claims,
        "proof": hex::encode(borsh::to_vec(proof).expect("borsh into a Vec cannot fail")),
    });
    Ok(canonical(&value))
}

fn canonical(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("a JSON value encodes");
    s.push('\n');
    s
}

/// Checks a proof file offline against `genesis`; returns what it proves.
pub fn verify_file(bytes: &[u8], genesis: &Genesis) -> Result<Value, ProofError> {
    if bytes.len() > FILE_BYTES_MAX {
        return Err(ProofError::Malformed(format!(
            "{} bytes; a proof file is at most {FILE_BYTES_MAX}",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ProofError::Malformed("the file is not UTF-8".into()))?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| ProofError::Malformed(e.to_string()))?;
    if canonical(&value) != text {
        return Err(ProofError::NotCanonical(
            "it differs from the canonical rendering of its own content".into(),
        ));
    }
    if value["format"] != FORMAT {
        return Err(ProofError::Malformed(format!(
            "format {} is not {FORMAT}",
            value["format"]
        )));
    }
    let expected = genesis.chain_id().to_string();
    if value["chain_id"] != expected.as_str() {
        return Err(ProofError::WrongChain {
            expected,
            got: value["chain_id"].to_string(),
        });
    }
    let hex_text = value["proof"]
        .as_str()
        .ok_or_else(|| ProofError::Malformed("no proof".into()))?;
    if hex_text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ProofError::NotCanonical(
            "the proof hex is not lowercase".into(),
        ));
    }
    let raw = hex::decode(hex_text).map_err(|e| ProofError::Malformed(e.to_string()))?;
    let proof: AuditProof =
        borsh::from_slice(&raw).map_err(|e| ProofError::Malformed(format!("proof: {e}")))?;
    if value["kind"] != proof.kind() {
        return Err(invalid("the kind does not match the proof"));
    }
    let claims = proof.verify(genesis)?;
    if value["claims"] != claims {
        return Err(invalid(
            "the claims in the file are not what the proof proves",
        ));
    }
    Ok(claims)
}
