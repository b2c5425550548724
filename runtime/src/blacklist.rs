//! Ledger rules of the identity layer (see `hutong_privacy` and the
//! README's "Customer identity"):
//!
//! - **The shared blacklist**: a keyed set of listing keys
//!   (`tagged("hutong/blacklist/v1", identity tag)`), each with who listed
//!   it, why and under which reference. A member institution or a
//!   regulator lists ([`TxKind::ListIdentity`]); the lister or a
//!   regulator delists, and a regulator's listing only a regulator. A
//!   listing key names nobody and links no account: only whoever holds a
//!   person's tag (an institution that asked the regulator's node for it,
//!   or the regulator) can find its listing, one key at a time.
//! - **Memo keys**: the HPKE public key a member institution publishes for
//!   the memos of its customers' payments ([`TxKind::SetMemoKey`]; a
//!   new key replaces the old, whose memos its holder keeps reading with
//!   the old secret).
//! - **Sealed memos**: on a chain with an identity service, a non-empty
//!   memo must be a sealed memo ([`is_sealed_memo`]: its structure is
//!   checked here; whether its readers are the right ones only the
//!   readers can tell, and the regulator's node reports a memo it cannot
//!   open).
//!
//! [`TxKind::ListIdentity`]: crate::tx::TxKind::ListIdentity
//! [`TxKind::SetMemoKey`]: crate::tx::TxKind::SetMemoKey

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::Hash;
use crate::execute::{ExecError, Executor};
use crate::receipt::{Effect, FailureReason};
use crate::state::{AccountKind, StateKey, StateValue};
use crate::store::StateStore;
use crate::tx::FreezeReason;
use crate::types::{Address, TimestampMs};
use crate::Account;

/// The first byte of a sealed memo (`hutong_privacy::envelope`).
pub const SEALED_MEMO_VERSION: u8 = 1;
/// Most readers of a sealed memo.
pub const MEMO_READERS_MAX: usize = 4;
/// Bytes one reader adds to a sealed memo: an X25519 encapsulated key
/// (32) and the memo's key sealed to it (32 + a 16-byte tag).
pub const MEMO_READER_BYTES: usize = 32 + 32 + 16;
/// Bytes of a sealed memo besides its readers and its text: the version,
/// the readers' count and the text's AEAD tag.
pub const SEALED_MEMO_OVERHEAD: usize = 2 + 16;

/// Whether `memo` has the structure of a sealed memo: the version, 1 to
/// [`MEMO_READERS_MAX`] readers, and room for their keys and the text's
/// tag.
pub fn is_sealed_memo(memo: &[u8]) -> bool {
    match memo {
        [SEALED_MEMO_VERSION, n, ..] => {
            let n = *n as usize;
            (1..=MEMO_READERS_MAX).contains(&n)
                && memo.len() >= SEALED_MEMO_OVERHEAD + n * MEMO_READER_BYTES
        }
        _ => false,
    }
}

/// One entry of the shared blacklist.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Listing {
    /// The institution or regulator that listed it.
    pub listed_by: Address,
    pub reason: FreezeReason,
    /// The authority's reference (a court order's or case number).
    pub reference: Vec<u8>,
    pub listed_at: TimestampMs,
}

impl<S: StateStore + ?Sized> Executor<'_, S> {
    pub(crate) fn listing(&mut self, key: &Hash) -> Result<Option<Listing>, ExecError> {
        let key = StateKey::Listing(*key);
        match self.overlay.get(&key)? {
            None => Ok(None),
            Some(StateValue::Listing(l)) => Ok(Some(l)),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    /// `ListIdentity`.
    pub(crate) fn list_identity(
        &mut self,
        sender: Address,
        account: &Account,
        listing_key: &Hash,
        reason: FreezeReason,
        reference: &[u8],
    ) -> Result<Result<Vec<Effect>, FailureReason>, ExecError> {
        if !matches!(
            account.kind,
            AccountKind::Institution | AccountKind::Regulator
        ) {
            return Ok(Err(FailureReason::Unauthorised));
        }
        if let Some(l) = self.listing(listing_key)? {
            return Ok(Err(FailureReason::AlreadyListed {
                listed_by: l.listed_by,
            }));
        }
        self.overlay.put(
            StateKey::Listing(*listing_key),
            Some(StateValue::Listing(Listing {
                listed_by: sender,
                reason,
                reference: reference.to_vec(),
                listed_at: self.ctx.timestamp,
            })),
        );
        Ok(Ok(vec![Effect::IdentityListed {
            listing_key: *listing_key,
            by: sender,
            reason,
        }]))
    }

    /// `DelistIdentity`.
    pub(crate) fn delist_identity(
        &mut self,
        sender: Address,
        account: &Account,
        listing_key: &Hash,
    ) -> Result<Result<Vec<Effect>, FailureReason>, ExecError> {
        let Some(l) = self.listing(listing_key)? else {
            return Ok(Err(FailureReason::NotListed));
        };
        let allowed = match account.kind {
            AccountKind::Regulator => true,
            AccountKind::Institution => l.listed_by == sender,
            AccountKind::Customer { .. } | AccountKind::Retired => false,
        };
        if !allowed {
            return Ok(Err(FailureReason::Unauthorised));
        }
        self.overlay.put(StateKey::Listing(*listing_key), None);
        Ok(Ok(vec![Effect::IdentityDelisted {
            listing_key: *listing_key,
            by: sender,
        }]))
    }

    /// `SetMemoKey`: a member institution's memo key.
    pub(crate) fn set_memo_key(
        &mut self,
        sender: Address,
        account: &Account,
        key: &[u8; 32],
    ) -> Result<Result<Vec<Effect>, FailureReason>, ExecError> {
        if account.kind != AccountKind::Institution {
            return Ok(Err(FailureReason::Unauthorised));
        }
        self.overlay
            .put(StateKey::MemoKey(sender), Some(StateValue::MemoKey(*key)));
        Ok(Ok(vec![Effect::MemoKeySet {
            institution: sender,
            key: *key,
        }]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_memo_structure() {
        let ok = |n: u8, text: usize| {
            let mut m = vec![SEALED_MEMO_VERSION, n];
            m.resize(
                SEALED_MEMO_OVERHEAD + n as usize * MEMO_READER_BYTES + text,
                0,
            );
            m
        };
        assert!(is_sealed_memo(&ok(1, 0)));
        assert!(is_sealed_memo(&ok(3, 100)));
        assert!(is_sealed_memo(&ok(4, 0)));
        assert!(!is_sealed_memo(&ok(0, 10)));
        assert!(!is_sealed_memo(&ok(5, 10)));
        let mut short = ok(2, 0);
        short.pop();
        assert!(!is_sealed_memo(&short));
        assert!(!is_sealed_memo(b"salary March"));
        assert!(!is_sealed_memo(&[]));
    }
}
