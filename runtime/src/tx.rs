//! Transactions: what a wallet or an institution signs.
//!
//! The canonical encoding is borsh. A transaction is signed over
//! `SHA-256("hutong/tx/v1" || 0x00 || borsh(Transaction))`, and that digest is
//! also its id ([`Transaction::hash`]). The id excludes the signature on
//! purpose: ZIP-215 accepts several encodings of one signature, and a
//! transaction must have one id however it was signed.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::{domain, CryptoError, Hash, Keypair, PublicKey, Signature};
use crate::exchange::Quote;
use crate::governance::{Action, ACTIONS_MAX};
use crate::hold::AccountState;
use crate::mandate::MandateScope;
use crate::types::{
    Address, Amount, AssetCode, ChainId, Height, Nonce, Tier, TimestampMs, TransferId,
};

/// Largest encoded signed transaction accepted anywhere, in bytes.
pub const TX_BYTES_MAX: usize = 16 * 1024;
/// Longest memo, in bytes: a sealed memo to three readers holds up to
/// 254 bytes of text (`hutong_privacy::envelope`), a memo in clear (a
/// chain without an identity service) up to 512.
pub const MEMO_BYTES_MAX: usize = 512;
/// Most recipients in one [`TxKind::BatchTransfer`].
pub const BATCH_RECIPIENTS_MAX: usize = 256;
/// Longest reference of an amount freeze or restriction (a court order's
/// number), in bytes.
pub const REFERENCE_BYTES_MAX: usize = 64;
/// Most payees a device key may be limited to.
pub const DEVICE_PAYEES_MAX: usize = 16;
/// Most legs in one [`TxKind::Linked`].
pub const LINKED_LEGS_MAX: usize = 8;
/// Most payees a mandate may be limited to.
pub const MANDATE_PAYEES_MAX: usize = 16;
/// Bytes of an `OpenAccount`'s identity envelope: an HPKE encapsulated
/// key (32), the sealed identity tag (64) and salt (32), and the AEAD tag
/// (16); see `hutong_privacy::envelope`.
pub const IDENTITY_ENVELOPE_BYTES: usize = 144;

/// When a transaction stops being valid. It may execute in a block whose
/// height (or timestamp) is at most this value, and never after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Expiry {
    Height(Height),
    Time(TimestampMs),
}

/// Why an account is frozen. The code is on the ledger; the case file is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum FreezeReason {
    /// Suspected fraud reported by the account's institution or a customer.
    Fraud,
    /// A court or law-enforcement order.
    LegalOrder,
    /// A regulator's supervisory action.
    Regulatory,
    /// The customer asked for it (lost device, suspected theft).
    CustomerRequest,
    /// Anything else; the institution keeps the details.
    Other,
}

impl FreezeReason {
    /// The name wallets and the CLI use (`hutong tx freeze --reason`).
    pub fn name(&self) -> &'static str {
        match self {
            FreezeReason::Fraud => "fraud",
            FreezeReason::LegalOrder => "legal-order",
            FreezeReason::Regulatory => "regulatory",
            FreezeReason::CustomerRequest => "customer-request",
            FreezeReason::Other => "other",
        }
    }
}

/// One leg of a [`TxKind::BatchTransfer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Payout {
    pub to: Address,
    pub amount: Amount,
}

/// What a transaction does. Each kind has its own authorisation rule, see
/// [`crate::execute`].
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum TxKind {
    /// Move `amount` of `asset` from the sender to `to`.
    Transfer {
        to: Address,
        asset: AssetCode,
        amount: Amount,
        transfer_id: TransferId,
    },
    /// One sender pays many recipients, all or nothing (payroll, benefits).
    BatchTransfer {
        asset: AssetCode,
        payouts: Vec<Payout>,
        transfer_id: TransferId,
    },
    /// A member institution opens an account for a customer it has KYC'd.
    OpenAccount {
        owner: PublicKey,
        tier: Tier,
        /// On a chain with an identity service (genesis names the
        /// regulator's identity keys): the binding commitment to the
        /// customer's identity tag and a fresh salt, whose opening is
        /// `identity_envelope`. Otherwise a salted hash of the customer's
        /// identity documents ([`crate::identity`]). The name and ID
        /// number stay with the institution either way.
        identity_commitment: Hash,
        /// The identity tag and salt sealed to the regulator
        /// ([`IDENTITY_ENVELOPE_BYTES`] bytes), on a chain with an
        /// identity service; empty otherwise.
        identity_envelope: Vec<u8>,
    },
    /// The account's institution changes its KYC tier.
    SetTier { account: Address, tier: Tier },
    /// Freeze an account: the account's institution for its own accounts,
    /// a regulator for any account.
    Freeze {
        account: Address,
        reason: FreezeReason,
    },
    /// Lift a freeze; the same authority as [`TxKind::Freeze`].
    Unfreeze { account: Address },
    /// The asset's issuer creates money (fiat deposited at the issuer).
    Mint {
        to: Address,
        asset: AssetCode,
        amount: Amount,
    },
    /// The asset's issuer destroys money from its own account (fiat
    /// withdrawn at the issuer).
    Burn { asset: AssetCode, amount: Amount },
    /// A voter (a member institution, or a regulator where genesis says
    /// so) proposes changes to the consortium, executed in order and all
    /// or none once the votes pass; see [`crate::governance`]. Proposing
    /// counts as approving.
    Propose {
        actions: Vec<Action>,
        /// How long the vote stays open, in milliseconds of block time.
        voting_period_ms: u64,
    },
    /// A voter approves or rejects an open proposal; a later vote replaces
    /// an earlier one.
    Vote { proposal: u64, approve: bool },
    /// The proposer withdraws its open proposal.
    Withdraw { proposal: u64 },
    /// A regulator publishes the head of its audit-query log: how many
    /// entries it holds and the last one's hash. The log is hash-chained,
    /// so once a head is on the ledger, a log shown later that does not
    /// extend it was rewritten, and every member can tell. Changes no
    /// state: the transaction and its receipt are the record.
    AnchorAuditLog { entries: u64, head: Hash },
    /// The payer reserves `amount` for `to` until `expires_at` (block
    /// time): the payer's available balance falls, its balance does not.
    /// `hold_id` is one of the payer's transfer ids (see
    /// [`crate::hold`]).
    Hold {
        to: Address,
        asset: AssetCode,
        amount: Amount,
        hold_id: TransferId,
        expires_at: TimestampMs,
    },
    /// The payee (or the payer) moves `amount` (at most the amount held)
    /// of the payer's hold to the payee; the rest is released.
    Capture {
        payer: Address,
        hold_id: TransferId,
        amount: Amount,
    },
    /// The payee releases the payer's hold without moving anything.
    Void { payer: Address, hold_id: TransferId },
    /// Freeze part of an account's balance: the account's institution, or
    /// a regulator. `reference` names the order (a court case number).
    FreezeAmount {
        account: Address,
        asset: AssetCode,
        amount: Amount,
        freeze_id: u64,
        reason: FreezeReason,
        reference: Vec<u8>,
        expires_at: Option<TimestampMs>,
    },
    /// Lift an amount freeze; the same authority as [`TxKind::FreezeAmount`],
    /// and a regulator's only by a regulator.
    ReleaseFreeze { account: Address, freeze_id: u64 },
    /// Make an account receive-only or send-only, or lift that
    /// ([`AccountState::Normal`]): the account's institution, or a
    /// regulator; a regulator's restriction is lifted only by a regulator.
    SetAccountState {
        account: Address,
        state: AccountState,
        reason: FreezeReason,
        reference: Vec<u8>,
        expires_at: Option<TimestampMs>,
    },
    /// The account's owner lets a device key (an EV, a meter) sign holds
    /// and captures for it, within a scope: one asset, at most
    /// `max_per_hold` per hold and `daily_max` per day, to `payees` only
    /// (any payee when empty, at most [`DEVICE_PAYEES_MAX`]). The device
    /// has its own sequence numbers, from 0.
    RegisterDevice {
        key: PublicKey,
        asset: AssetCode,
        max_per_hold: Amount,
        daily_max: Amount,
        payees: Vec<Address>,
    },
    /// The account's owner revokes a device key.
    RevokeDevice { key: PublicKey },
    /// The sender's payment operations, all or none: each leg runs in
    /// order on the state the previous ones left, and if one fails nothing
    /// of any leg stays (the receipt names the failing leg). At most
    /// [`LINKED_LEGS_MAX`] legs. See [`crate::exchange`].
    Linked { legs: Vec<LinkedOp> },
    /// Payment versus payment: the sender pays `pay` of the quote's `sell`
    /// asset to the FX provider, and the provider pays the payee `to` the
    /// quoted amount of its `buy` asset, at least `min_receive`, both or
    /// neither. `quote_signature` is the provider's signature over the
    /// quote (see [`Quote::signing_hash`]). See [`crate::exchange`].
    Pvp {
        quote: Quote,
        quote_signature: Signature,
        pay: Amount,
        min_receive: Amount,
        to: Address,
        transfer_id: TransferId,
    },
    /// The account's owner lets another account (a third party's app)
    /// pay from it, or read it through the RPC, within a scope; see
    /// [`crate::mandate`].
    GrantMandate {
        mandate_id: u64,
        grantee: Address,
        scope: MandateScope,
        asset: AssetCode,
        /// Empty: any payee; at most [`MANDATE_PAYEES_MAX`].
        payees: Vec<Address>,
        per_payment: Amount,
        per_period: Amount,
        /// The period's length in seconds (a day: 86,400), counted from
        /// `start`.
        period_seconds: u32,
        start: TimestampMs,
        end: TimestampMs,
    },
    /// The account's owner ends a mandate, from this transaction on.
    RevokeMandate { mandate_id: u64 },
    /// The grantee of a mandate pays from the granting account.
    MandatePay {
        payer: Address,
        mandate_id: u64,
        to: Address,
        asset: AssetCode,
        amount: Amount,
        transfer_id: TransferId,
    },
    /// A member institution or a regulator adds an identity to the shared
    /// blacklist, by its listing key (see [`crate::blacklist`]);
    /// `reference` names the authority's order or case.
    ListIdentity {
        listing_key: Hash,
        reason: FreezeReason,
        reference: Vec<u8>,
    },
    /// The lister (or a regulator; a regulator's listing only a regulator)
    /// removes an identity from the shared blacklist.
    DelistIdentity { listing_key: Hash },
    /// A member institution publishes the HPKE (X25519) public key its
    /// customers' memos are sealed to (see [`crate::blacklist`]).
    SetMemoKey { key: [u8; 32] },
}

/// One leg of a [`TxKind::Linked`]: the sender's payment operations, as the
/// kinds of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum LinkedOp {
    Transfer {
        to: Address,
        asset: AssetCode,
        amount: Amount,
        transfer_id: TransferId,
    },
    Hold {
        to: Address,
        asset: AssetCode,
        amount: Amount,
        hold_id: TransferId,
        expires_at: TimestampMs,
    },
    Capture {
        payer: Address,
        hold_id: TransferId,
        amount: Amount,
    },
    Void {
        payer: Address,
        hold_id: TransferId,
    },
}

impl LinkedOp {
    /// The transaction kind of the same name, with the same fields (what
    /// the leg does, as readers and the regulator's legs show it).
    pub fn kind(&self) -> TxKind {
        match *self {
            LinkedOp::Transfer {
                to,
                asset,
                amount,
                transfer_id,
            } => TxKind::Transfer {
                to,
                asset,
                amount,
                transfer_id,
            },
            LinkedOp::Hold {
                to,
                asset,
                amount,
                hold_id,
                expires_at,
            } => TxKind::Hold {
                to,
                asset,
                amount,
                hold_id,
                expires_at,
            },
            LinkedOp::Capture {
                payer,
                hold_id,
                amount,
            } => TxKind::Capture {
                payer,
                hold_id,
                amount,
            },
            LinkedOp::Void { payer, hold_id } => TxKind::Void { payer, hold_id },
        }
    }

    /// A transfer, hold, capture or void as a leg; `None` for any other
    /// kind.
    pub fn of_kind(kind: &TxKind) -> Option<LinkedOp> {
        Some(match *kind {
            TxKind::Transfer {
                to,
                asset,
                amount,
                transfer_id,
            } => LinkedOp::Transfer {
                to,
                asset,
                amount,
                transfer_id,
            },
            TxKind::Hold {
                to,
                asset,
                amount,
                hold_id,
                expires_at,
            } => LinkedOp::Hold {
                to,
                asset,
                amount,
                hold_id,
                expires_at,
            },
            TxKind::Capture {
                payer,
                hold_id,
                amount,
            } => LinkedOp::Capture {
                payer,
                hold_id,
                amount,
            },
            TxKind::Void { payer, hold_id } => LinkedOp::Void { payer, hold_id },
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            LinkedOp::Transfer { .. } => "transfer",
            LinkedOp::Hold { .. } => "hold",
            LinkedOp::Capture { .. } => "capture",
            LinkedOp::Void { .. } => "void",
        }
    }
}

impl TxKind {
    /// The accounts besides the sender a transaction pays, charges or acts
    /// on, in order, without repeats: whose institutions read its memo
    /// (see [`crate::blacklist`]).
    pub fn counterparties(&self) -> Vec<Address> {
        let mut out: Vec<Address> = Vec::new();
        let mut add = |a: &Address| {
            if !out.contains(a) {
                out.push(*a);
            }
        };
        match self {
            TxKind::Transfer { to, .. } | TxKind::Mint { to, .. } | TxKind::Hold { to, .. } => {
                add(to)
            }
            TxKind::BatchTransfer { payouts, .. } => payouts.iter().for_each(|p| add(&p.to)),
            TxKind::SetTier { account, .. }
            | TxKind::Freeze { account, .. }
            | TxKind::Unfreeze { account }
            | TxKind::FreezeAmount { account, .. }
            | TxKind::ReleaseFreeze { account, .. }
            | TxKind::SetAccountState { account, .. } => add(account),
            TxKind::Capture { payer, .. } | TxKind::Void { payer, .. } => add(payer),
            TxKind::Linked { legs } => {
                for leg in legs {
                    match leg {
                        LinkedOp::Transfer { to, .. } | LinkedOp::Hold { to, .. } => add(to),
                        LinkedOp::Capture { payer, .. } | LinkedOp::Void { payer, .. } => {
                            add(payer)
                        }
                    }
                }
            }
            TxKind::Pvp { quote, to, .. } => {
                add(&quote.provider);
                add(to);
            }
            TxKind::GrantMandate { grantee, .. } => add(grantee),
            TxKind::MandatePay { payer, to, .. } => {
                add(payer);
                add(to);
            }
            TxKind::OpenAccount { owner, .. } => add(&Address::of(owner)),
            _ => {}
        }
        out
    }

    /// The asset a transaction moves, creates or destroys, if any.
    pub fn asset(&self) -> Option<AssetCode> {
        match self {
            TxKind::Transfer { asset, .. }
            | TxKind::BatchTransfer { asset, .. }
            | TxKind::Mint { asset, .. }
            | TxKind::Burn { asset, .. }
            | TxKind::Hold { asset, .. }
            | TxKind::FreezeAmount { asset, .. }
            | TxKind::RegisterDevice { asset, .. }
            | TxKind::GrantMandate { asset, .. }
            | TxKind::MandatePay { asset, .. } => Some(*asset),
            TxKind::Pvp { quote, .. } => Some(quote.sell),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            TxKind::Transfer { .. } => "transfer",
            TxKind::BatchTransfer { .. } => "batch_transfer",
            TxKind::OpenAccount { .. } => "open_account",
            TxKind::SetTier { .. } => "set_tier",
            TxKind::Freeze { .. } => "freeze",
            TxKind::Unfreeze { .. } => "unfreeze",
            TxKind::Mint { .. } => "mint",
            TxKind::Burn { .. } => "burn",
            TxKind::Propose { .. } => "propose",
            TxKind::Vote { .. } => "vote",
            TxKind::Withdraw { .. } => "withdraw",
            TxKind::AnchorAuditLog { .. } => "anchor_audit_log",
            TxKind::Hold { .. } => "hold",
            TxKind::Capture { .. } => "capture",
            TxKind::Void { .. } => "void",
            TxKind::FreezeAmount { .. } => "freeze_amount",
            TxKind::ReleaseFreeze { .. } => "release_freeze",
            TxKind::SetAccountState { .. } => "set_account_state",
            TxKind::RegisterDevice { .. } => "register_device",
            TxKind::RevokeDevice { .. } => "revoke_device",
            TxKind::Linked { .. } => "linked",
            TxKind::Pvp { .. } => "pvp",
            TxKind::GrantMandate { .. } => "grant_mandate",
            TxKind::RevokeMandate { .. } => "revoke_mandate",
            TxKind::MandatePay { .. } => "mandate_pay",
            TxKind::ListIdentity { .. } => "list_identity",
            TxKind::DelistIdentity { .. } => "delist_identity",
            TxKind::SetMemoKey { .. } => "set_memo_key",
        }
    }
}

/// The signed body of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transaction {
    pub chain_id: ChainId,
    /// The signer's public key; the sender's address is derived from it.
    pub sender: PublicKey,
    pub sequence: Nonce,
    pub expiry: Expiry,
    pub kind: TxKind,
    /// The institution key that co-signs this transaction (step-up
    /// authentication for a large transfer). It is part of the signed body,
    /// so nobody can strip the co-signature from a transaction in flight:
    /// a transaction that names a co-signer is valid only with that
    /// co-signature, and one that names none carries none.
    pub cosigner: Option<PublicKey>,
    /// Free text for the counterparty (an invoice number); at most
    /// [`MEMO_BYTES_MAX`] bytes.
    pub memo: Vec<u8>,
}

/// A transaction with its sender's signature and, when the body names a
/// co-signer, the co-signer's signature: the sender's institution, required
/// above a tier's step-up threshold, attests that it ran stronger
/// authentication for this exact transaction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signature: Signature,
    pub cosignature: Option<Signature>,
}

/// Why bytes from outside are not a transaction. Permanent: resending the
/// same bytes gives the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("transaction is {len} bytes, more than the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("transaction bytes are not a canonical encoding: {reason}")]
    Malformed { reason: String },
    #[error("memo is {len} bytes, more than the {max}-byte limit")]
    MemoTooLong { len: usize, max: usize },
    #[error("batch transfer has {count} payouts; it needs 1 to {max}")]
    BatchSize { count: usize, max: usize },
    #[error("proposal has {count} actions; it needs 1 to {max}")]
    ProposalSize { count: usize, max: usize },
    #[error("a proposal's action carries a name or address past its length limit")]
    ActionTooLong,
    #[error("reference is {len} bytes, more than the {max}-byte limit")]
    ReferenceTooLong { len: usize, max: usize },
    #[error("device scope or mandate names {count} payees; at most {max}")]
    TooManyPayees { count: usize, max: usize },
    #[error("linked transaction has {count} legs; it needs 1 to {max}")]
    LinkedSize { count: usize, max: usize },
    #[error("identity envelope is {len} bytes; it is empty or {IDENTITY_ENVELOPE_BYTES}")]
    IdentityEnvelope { len: usize },
}

impl Transaction {
    pub fn sender_address(&self) -> Address {
        Address::of(&self.sender)
    }

    /// The transaction id and the message the sender signs.
    pub fn hash(&self) -> Hash {
        let bytes = borsh::to_vec(self).expect("borsh encoding into a Vec cannot fail");
        Hash::tagged(domain::TX, &bytes)
    }

    /// The message an institution co-signs for a step-up transfer.
    pub fn cosign_message(tx_hash: &Hash) -> Hash {
        Hash::tagged(domain::COSIGN, &tx_hash.0)
    }

    pub fn sign(self, key: &Keypair) -> SignedTransaction {
        let hash = self.hash();
        SignedTransaction {
            signature: key.sign(&hash.0),
            tx: self,
            cosignature: None,
        }
    }

    /// Names `institution` as co-signer, then signs with `sender` and
    /// co-signs with `institution`: both parties' keys at hand (tests,
    /// tools). A wallet and an institution apart use
    /// [`Transaction::sign`] then [`SignedTransaction::cosign`].
    pub fn sign_cosigned(mut self, sender: &Keypair, institution: &Keypair) -> SignedTransaction {
        self.cosigner = Some(institution.public());
        self.sign(sender).cosign(institution)
    }

    /// Checks the limits that the type does not express.
    pub fn check_bounds(&self) -> Result<(), DecodeError> {
        if self.memo.len() > MEMO_BYTES_MAX {
            return Err(DecodeError::MemoTooLong {
                len: self.memo.len(),
                max: MEMO_BYTES_MAX,
            });
        }
        if let TxKind::OpenAccount {
            identity_envelope, ..
        } = &self.kind
        {
            if !matches!(identity_envelope.len(), 0 | IDENTITY_ENVELOPE_BYTES) {
                return Err(DecodeError::IdentityEnvelope {
                    len: identity_envelope.len(),
                });
            }
        }
        if let TxKind::BatchTransfer { payouts, .. } = &self.kind {
            if payouts.is_empty() || payouts.len() > BATCH_RECIPIENTS_MAX {
                return Err(DecodeError::BatchSize {
                    count: payouts.len(),
                    max: BATCH_RECIPIENTS_MAX,
                });
            }
        }
        if let TxKind::Propose { actions, .. } = &self.kind {
            if actions.is_empty() || actions.len() > ACTIONS_MAX {
                return Err(DecodeError::ProposalSize {
                    count: actions.len(),
                    max: ACTIONS_MAX,
                });
            }
            if !actions.iter().all(Action::within_bounds) {
                return Err(DecodeError::ActionTooLong);
            }
        }
        if let TxKind::FreezeAmount { reference, .. }
        | TxKind::SetAccountState { reference, .. }
        | TxKind::ListIdentity { reference, .. } = &self.kind
        {
            if reference.len() > REFERENCE_BYTES_MAX {
                return Err(DecodeError::ReferenceTooLong {
                    len: reference.len(),
                    max: REFERENCE_BYTES_MAX,
                });
            }
        }
        if let TxKind::RegisterDevice { payees, .. } = &self.kind {
            if payees.len() > DEVICE_PAYEES_MAX {
                return Err(DecodeError::TooManyPayees {
                    count: payees.len(),
                    max: DEVICE_PAYEES_MAX,
                });
            }
        }
        if let TxKind::GrantMandate { payees, .. } = &self.kind {
            if payees.len() > MANDATE_PAYEES_MAX {
                return Err(DecodeError::TooManyPayees {
                    count: payees.len(),
                    max: MANDATE_PAYEES_MAX,
                });
            }
        }
        if let TxKind::Linked { legs } = &self.kind {
            if legs.is_empty() || legs.len() > LINKED_LEGS_MAX {
                return Err(DecodeError::LinkedSize {
                    count: legs.len(),
                    max: LINKED_LEGS_MAX,
                });
            }
        }
        Ok(())
    }
}

impl SignedTransaction {
    /// Adds the co-signature of `institution` over this transaction. It is
    /// valid only if the body names `institution` as its co-signer.
    pub fn cosign(mut self, institution: &Keypair) -> SignedTransaction {
        let msg = Transaction::cosign_message(&self.tx.hash());
        self.cosignature = Some(institution.sign(&msg.0));
        self
    }

    pub fn hash(&self) -> Hash {
        self.tx.hash()
    }

    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("borsh encoding into a Vec cannot fail")
    }

    /// Decodes bytes from outside: bounded size, strict borsh (no trailing
    /// bytes, only canonical tags), then the bounds on memo and batch size.
    pub fn decode(bytes: &[u8]) -> Result<SignedTransaction, DecodeError> {
        if bytes.len() > TX_BYTES_MAX {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: TX_BYTES_MAX,
            });
        }
        let stx: SignedTransaction =
            borsh::from_slice(bytes).map_err(|e| DecodeError::Malformed {
                reason: e.to_string(),
            })?;
        stx.tx.check_bounds()?;
        Ok(stx)
    }

    /// Checks the sender's signature, and the co-signature if present, under
    /// ZIP-215 rules. Whether the co-signer is the right institution is a
    /// ledger rule, checked at execution.
    pub fn verify_signatures(&self) -> Result<(), CryptoError> {
        self.verify_signatures_with(&self.tx.hash())
    }

    /// [`SignedTransaction::verify_signatures`] with the transaction's hash
    /// already computed by the caller (it must be `self.hash()`).
    pub fn verify_signatures_with(&self, hash: &Hash) -> Result<(), CryptoError> {
        self.tx.sender.verify(&hash.0, &self.signature)?;
        match (&self.tx.cosigner, &self.cosignature) {
            (None, None) => Ok(()),
            (Some(key), Some(sig)) => key.verify(&Transaction::cosign_message(hash).0, sig),
            (Some(key), None) => Err(CryptoError::MissingCoSignature { key: key.to_hex() }),
            (None, Some(_)) => Err(CryptoError::UnexpectedCoSignature),
        }
    }

    /// The (key, message, signature) triples to check, for batch verifiers.
    /// `hash` must be `self.hash()`, computed once by the caller.
    ///
    /// A transaction whose co-signature does not match its body (one named
    /// but missing, or one present but not named) has no valid item set:
    /// this returns `None`, and the verdict is invalid without a check.
    pub fn signature_items(
        &self,
        hash: &Hash,
    ) -> Option<impl Iterator<Item = (PublicKey, Hash, Signature)>> {
        let hash = *hash;
        let main = (self.tx.sender, hash, self.signature);
        let co = match (self.tx.cosigner, self.cosignature) {
            (None, None) => None,
            (Some(key), Some(sig)) => Some((key, Transaction::cosign_message(&hash), sig)),
            _ => return None,
        };
        Some(std::iter::once(main).chain(co))
    }
}
