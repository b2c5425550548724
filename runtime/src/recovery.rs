//! Recovery when more than f validators are lost for good.
//!
//! With more than a third of the validators gone (disks and keys lost, an
//! institution out of business), consensus cannot certify another block,
//! and no vote can change the validator set: a vote needs a block. The
//! members then sign a [`RecoveryStatement`] off the chain: the last
//! committed height, its block id and state root, and the validator set
//! the next epoch runs with, signed by the institution keys of more than
//! two thirds of the members. Each node is given it (`hutong recover
//! apply`); the ledger applies it at the start of the next block
//! ([`crate::execute::execute_block_with`]), which is the first block of
//! a new epoch run by the new set.
//!
//! The statement names an existing member for every validator of the new
//! set, with the node key that member's node runs with from then on (its
//! current key, or a new one for a replacement machine). Members it does
//! not name lose their vote in consensus (they stay members, as
//! observers), and a validator-set change still waiting to take effect is
//! dropped: the statement's set replaces it. New members join later by
//! vote, once the chain runs again.
//!
//! What is checked here is what the ledger alone can check: the chain, the
//! epoch, the signers, and the new set. That the block id and state root
//! are this node's own at that height (so the statement names a certified
//! state, not a fork) the node checks against its database.

use std::collections::BTreeSet;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::{Hash, Keypair, PublicKey, Signature};
use crate::governance::{
    address_ok, Consortium, MemberRole, ADDRESS_BYTES_MAX, MEMBERS_MAX, NAME_BYTES_MAX,
};
use crate::state::{StateKey, StateValue};
use crate::store::{StateStore, StoreError};
use crate::types::{Address, ChainId, Height};

/// Domain of the digest members sign.
pub const TAG: &[u8] = b"hutong/recovery/v1";
/// Largest encoded statement accepted (a file an operator was handed).
pub const STATEMENT_BYTES_MAX: usize = 64 * 1024;
/// Most signatures a statement carries (one per member at most).
pub const SIGNATURES_MAX: usize = MEMBERS_MAX;

/// What the members agree on: from which state, and with which validators,
/// the chain goes on.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RecoveryPlan {
    pub chain_id: ChainId,
    /// The epoch that lost its quorum: the ledger's epoch at `height`.
    pub epoch: u64,
    /// The last committed height the surviving nodes agree on.
    pub height: Height,
    /// The block at `height` (the new epoch starts from it).
    pub block_id: Hash,
    /// The state root after executing that block.
    pub state_root: Hash,
    /// The new epoch's validators, in the members' order.
    pub validators: Vec<NewValidator>,
}

/// One validator of the new epoch: a member, its node's key, and where
/// that node listens if it moved (a replacement machine): the other nodes
/// dial it there, as they do a member's address from a vote.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NewValidator {
    pub member: String,
    pub node_key: PublicKey,
    pub p2p_address: Option<String>,
}

/// A plan with the members' signatures on its digest.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RecoveryStatement {
    pub plan: RecoveryPlan,
    pub signatures: Vec<MemberSignature>,
}

/// A member's institution key, and its signature on [`RecoveryPlan::digest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MemberSignature {
    pub key: PublicKey,
    pub signature: Signature,
}

/// Why a statement is refused. Each has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    #[error("the statement does not decode: {0}")]
    Malformed(String),
    #[error("the statement is {got} bytes, more than {max}")]
    TooLarge { got: usize, max: usize },
    #[error("the statement is for another chain ({got}), this is {expected}")]
    WrongChain { expected: String, got: String },
    #[error("the statement recovers epoch {got}, but the ledger at height {height} is in epoch {ledger}")]
    WrongEpoch { got: u64, ledger: u64, height: u64 },
    #[error("the signature of key {key} does not verify")]
    BadSignature { key: PublicKey },
    #[error("key {key} signed twice")]
    DuplicateSigner { key: PublicKey },
    #[error("key {key} is no member's institution key")]
    NotAMember { key: PublicKey },
    #[error("signed by {got} of {members} members; more than two thirds ({needed}) must sign")]
    TooFewSigners {
        got: usize,
        members: usize,
        needed: usize,
    },
    #[error("the statement names no validator")]
    NoValidators,
    #[error("the statement names {got} validators, more than {max}")]
    TooManyValidators { got: usize, max: usize },
    #[error("validator {member:?} is not a member")]
    UnknownMember { member: String },
    #[error("member {member:?} is named twice")]
    DuplicateMember { member: String },
    #[error("node key {key} is given twice")]
    DuplicateNodeKey { key: PublicKey },
    #[error("node key {key} of {member:?} is a weak (small-order) key")]
    WeakKey { member: String, key: PublicKey },
    #[error("node key {key} of {member:?} is already in use in the consortium or the ledger")]
    KeyInUse { member: String, key: PublicKey },
    #[error("the statement's validators are not in the members' order")]
    Unordered,
    #[error("the p2p address of {member:?} is not a multiaddr within {max} bytes")]
    BadAddress { member: String, max: usize },
    #[error("state: {0}")]
    Store(String),
}

impl RecoveryError {
    pub fn code(&self) -> &'static str {
        match self {
            RecoveryError::Malformed(_) => "malformed",
            RecoveryError::TooLarge { .. } => "too_large",
            RecoveryError::WrongChain { .. } => "wrong_chain",
            RecoveryError::WrongEpoch { .. } => "wrong_epoch",
            RecoveryError::BadSignature { .. } => "bad_signature",
            RecoveryError::DuplicateSigner { .. } => "duplicate_signer",
            RecoveryError::NotAMember { .. } => "not_a_member",
            RecoveryError::TooFewSigners { .. } => "too_few_signers",
            RecoveryError::NoValidators => "no_validators",
            RecoveryError::TooManyValidators { .. } => "too_many_validators",
            RecoveryError::UnknownMember { .. } => "unknown_member",
            RecoveryError::DuplicateMember { .. } => "duplicate_member",
            RecoveryError::DuplicateNodeKey { .. } => "duplicate_node_key",
            RecoveryError::WeakKey { .. } => "weak_key",
            RecoveryError::KeyInUse { .. } => "key_in_use",
            RecoveryError::Unordered => "unordered",
            RecoveryError::BadAddress { .. } => "bad_address",
            RecoveryError::Store(_) => "store",
        }
    }
}

impl From<StoreError> for RecoveryError {
    fn from(e: StoreError) -> Self {
        RecoveryError::Store(e.to_string())
    }
}

impl RecoveryPlan {
    /// What each member signs: the plan, tagged, so a signature means
    /// nothing in any other context.
    pub fn digest(&self) -> Hash {
        Hash::tagged(
            TAG,
            &borsh::to_vec(self).expect("borsh into a Vec cannot fail"),
        )
    }

    /// Whether the plan is for `chain_id`.
    pub fn check_chain(&self, chain_id: ChainId) -> Result<(), RecoveryError> {
        if self.chain_id == chain_id {
            return Ok(());
        }
        Err(RecoveryError::WrongChain {
            expected: hex::encode(chain_id.0),
            got: hex::encode(self.chain_id.0),
        })
    }

    /// The epoch the recovered chain runs in.
    pub fn new_epoch(&self) -> u64 {
        self.epoch.saturating_add(1)
    }
}

impl RecoveryStatement {
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("borsh into a Vec cannot fail")
    }

    /// Decodes a statement from a file or a peer: bounded in size, in its
    /// lists and its names.
    pub fn decode(bytes: &[u8]) -> Result<RecoveryStatement, RecoveryError> {
        if bytes.len() > STATEMENT_BYTES_MAX {
            return Err(RecoveryError::TooLarge {
                got: bytes.len(),
                max: STATEMENT_BYTES_MAX,
            });
        }
        let s: RecoveryStatement =
            borsh::from_slice(bytes).map_err(|e| RecoveryError::Malformed(e.to_string()))?;
        s.check_bounds()?;
        Ok(s)
    }

    /// Its lists and texts within bounds (a statement from a file or a
    /// peer is checked before anything else reads it).
    pub fn check_bounds(&self) -> Result<(), RecoveryError> {
        if self.plan.validators.len() > MEMBERS_MAX {
            return Err(RecoveryError::TooManyValidators {
                got: self.plan.validators.len(),
                max: MEMBERS_MAX,
            });
        }
        if self.signatures.len() > SIGNATURES_MAX {
            return Err(RecoveryError::Malformed(format!(
                "{} signatures, more than {SIGNATURES_MAX}",
                self.signatures.len()
            )));
        }
        if let Some(v) = self.plan.validators.iter().find(|v| {
            v.member.len() > NAME_BYTES_MAX
                || v.p2p_address
                    .as_ref()
                    .is_some_and(|a| a.len() > ADDRESS_BYTES_MAX)
        }) {
            return Err(RecoveryError::Malformed(format!(
                "validator {:?}: a name or an address too long",
                v.member
            )));
        }
        Ok(())
    }

    /// Adds (or replaces) the signature of `key`'s holder.
    pub fn sign(&mut self, key: &Keypair) {
        let signature = key.sign(&self.plan.digest().0);
        let public = key.public();
        self.signatures.retain(|s| s.key != public);
        self.signatures.push(MemberSignature {
            key: public,
            signature,
        });
    }
}

/// Members needed to recover: more than two thirds of them, whatever the
/// voting rules say (a recovery replaces consensus itself).
pub fn signers_needed(members: usize) -> usize {
    members * 2 / 3 + 1
}

/// Checks a statement against the ledger at its height (`store` holds
/// that state): the chain, the epoch, the signatures, and the new set.
/// Returns the consortium record the new epoch starts with.
pub fn check<S: StateStore + ?Sized>(
    store: &S,
    chain_id: ChainId,
    statement: &RecoveryStatement,
) -> Result<Consortium, RecoveryError> {
    let plan = &statement.plan;
    plan.check_chain(chain_id)?;
    check_signers(&consortium(store)?, statement)?;
    recovered(store, plan)
}

/// Checks that more than two thirds of `consortium`'s members signed the
/// statement, each once, with a valid signature.
pub fn check_signers(
    consortium: &Consortium,
    statement: &RecoveryStatement,
) -> Result<(), RecoveryError> {
    let digest = statement.plan.digest();
    let mut seen = BTreeSet::new();
    for s in &statement.signatures {
        if !seen.insert(s.key) {
            return Err(RecoveryError::DuplicateSigner { key: s.key });
        }
        if !consortium
            .members
            .iter()
            .any(|m| m.institution_key == s.key)
        {
            return Err(RecoveryError::NotAMember { key: s.key });
        }
        s.key
            .verify(&digest.0, &s.signature)
            .map_err(|_| RecoveryError::BadSignature { key: s.key })?;
    }
    let needed = signers_needed(consortium.members.len());
    if seen.len() < needed {
        return Err(RecoveryError::TooFewSigners {
            got: seen.len(),
            members: consortium.members.len(),
            needed,
        });
    }
    Ok(())
}

/// The new epoch's validator keys, in order, after the checks that need
/// only the consortium record (members named once, in the members'
/// order, keys not repeated, addresses well formed): what a verifier
/// that holds no state can check. [`recovered`] checks the rest.
pub fn new_validators(
    consortium: &Consortium,
    plan: &RecoveryPlan,
) -> Result<Vec<PublicKey>, RecoveryError> {
    if consortium.epoch != plan.epoch {
        return Err(RecoveryError::WrongEpoch {
            got: plan.epoch,
            ledger: consortium.epoch,
            height: plan.height.0,
        });
    }
    if plan.validators.is_empty() {
        return Err(RecoveryError::NoValidators);
    }
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut last_index = None;
    for v in &plan.validators {
        let Some(index) = consortium.members.iter().position(|m| m.name == v.member) else {
            return Err(RecoveryError::UnknownMember {
                member: v.member.clone(),
            });
        };
        if !names.insert(v.member.as_str()) {
            return Err(RecoveryError::DuplicateMember {
                member: v.member.clone(),
            });
        }
        if last_index.is_some_and(|last| index < last) {
            return Err(RecoveryError::Unordered);
        }
        last_index = Some(index);
        if !keys.insert(v.node_key) {
            return Err(RecoveryError::DuplicateNodeKey { key: v.node_key });
        }
        if v.p2p_address.as_deref().is_some_and(|a| !address_ok(a)) {
            return Err(RecoveryError::BadAddress {
                member: v.member.clone(),
                max: ADDRESS_BYTES_MAX,
            });
        }
    }
    Ok(plan.validators.iter().map(|v| v.node_key).collect())
}

/// The consortium record a plan puts in force, checked against the ledger
/// at the plan's height (`store`). Signatures are not checked here: the
/// node checks them once, when it is given the statement; this is what
/// execution re-derives, the same on every node.
pub fn recovered<S: StateStore + ?Sized>(
    store: &S,
    plan: &RecoveryPlan,
) -> Result<Consortium, RecoveryError> {
    let mut c = consortium(store)?;
    new_validators(&c, plan)?;
    for v in &plan.validators {
        let Some(member) = c.member(&v.member) else {
            continue;
        };
        if v.node_key == member.node_key {
            continue;
        }
        if v.node_key.check_strong().is_err() {
            return Err(RecoveryError::WeakKey {
                member: v.member.clone(),
                key: v.node_key,
            });
        }
        let in_consortium = c
            .members
            .iter()
            .any(|m| m.institution_key == v.node_key || m.node_key == v.node_key)
            || c.regulators
                .iter()
                .any(|r| r.key == v.node_key || r.node_key == v.node_key);
        let address = Address::of(&v.node_key);
        if in_consortium
            || store.get(&StateKey::Account(address))?.is_some()
            || store.get(&StateKey::KeyAlias(address))?.is_some()
        {
            return Err(RecoveryError::KeyInUse {
                member: v.member.clone(),
                key: v.node_key,
            });
        }
    }
    for m in &mut c.members {
        match plan.validators.iter().find(|v| v.member == m.name) {
            Some(v) => {
                m.role = MemberRole::Validator;
                m.node_key = v.node_key;
                if v.p2p_address.is_some() {
                    m.p2p_address = v.p2p_address.clone();
                }
            }
            None if m.role == MemberRole::Validator => m.role = MemberRole::Observer,
            None => {}
        }
    }
    c.epoch = plan.new_epoch();
    c.epoch_start = Height(plan.height.0.saturating_add(1));
    c.active_validators = c.validator_keys();
    c.set_change_pending = None;
    Ok(c)
}

fn consortium<S: StateStore + ?Sized>(store: &S) -> Result<Consortium, RecoveryError> {
    match store.get(&StateKey::Consortium)? {
        Some(StateValue::Consortium(c)) => Ok(c),
        Some(_) => Err(RecoveryError::Store(
            "the consortium entry holds a value of another kind".into(),
        )),
        None => Err(RecoveryError::Store(
            "the state has no consortium entry".into(),
        )),
    }
}
