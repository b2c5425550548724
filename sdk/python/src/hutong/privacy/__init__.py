"""Customer identity without exposure (SPEC.md section 9): identity tags,
the identity envelope of ``OpenAccount``, and sealed memos. Everything
here is offline; :class:`hutong.Client` adds the round trips
(``identity_tags``, ``open_account_with_identity``, memo sealing in
``build``).

**Identity tags.** A customer's tag is the output of the verifiable
oblivious PRF of RFC 9497 (ristretto255-SHA512, mode 0x01) under the
regulator's key, of :func:`identity_input`. An institution obtains it
without showing the identity to the regulator's node::

    input = identity_input("CN_RIC:110101199003074514")
    state, blinded = blind(input)                    # send `blinded` (hutong_identityEvaluate)
    tags = finalize([state], [input], elements, proof, oprf_public_key)   # verifies the proof

:func:`finalize` refuses (``unverified_evaluation``) an answer whose
proof does not hold for the OPRF key the ledger publishes
(``hutong_getParameters`` → ``identity.oprf_key``): a wrong key, a
tampered answer, or an answer to another request.

**Values of a tag** (each ``tagged(label, data) = SHA-256(label || 0x00 ||
data)``): :func:`listing_key` (the shared blacklist), :func:`binding`
(``OpenAccount.identity_commitment``, with a fresh salt per account),
:func:`owner_id` (the regulator's index). A tag is the institution's
secret: whoever holds it recognises the customer.

**The identity envelope** (:func:`seal_identity`, :func:`open_identity`):
the tag and salt sealed with HPKE (RFC 9180, :mod:`hutong.privacy.hpke`) to the
regulator, bound to the chain and the new account's key.

**Sealed memos** (:func:`seal_memo`, :func:`open_memo`): the text under a
one-use key, that key sealed to each reader (the two institutions and the
regulator), all bound to :func:`memo_context` of the transaction.

Errors are :class:`~hutong.PrivacyError` subclasses with a stable
``code``: ``bad_identity``, ``malformed``, ``unverified_evaluation``,
``undecryptable``, ``commitment_mismatch``, ``bad_readers``,
``memo_too_long`` (as ``hutong_privacy::PrivacyError::code``).

The modules, one idea each (as the Rust crate ``hutong-privacy``):
:mod:`~hutong.privacy.ristretto` (the group, RFC 9496),
:mod:`~hutong.privacy.hpke` (RFC 9180 for the one suite),
:mod:`~hutong.privacy.oprf` (identity input, blind, finalize, the
regulator's side), :mod:`~hutong.privacy.tag` (values of a tag),
:mod:`~hutong.privacy.envelope` (identity envelope, sealed memos),
:mod:`~hutong.privacy.keys` (keys from seeds).
"""

from ..tx import IDENTITY_ENVELOPE_BYTES
from .envelope import (
    MEMO_READER_BYTES,
    MEMO_READERS_MAX,
    MEMO_VERSION,
    check_memo,
    is_sealed_memo,
    memo_context,
    open_identity,
    open_memo,
    seal_identity,
    seal_memo,
    sealed_memo_len,
)
from .keys import RegulatorIdentityKeys, identity_keys_from_seed, memo_key_from_seed
from .oprf import (
    CONTEXT_STRING,
    ELEMENT_BYTES,
    EVALUATION_BATCH_MAX,
    OPRF_KEY_INFO,
    PROOF_BYTES,
    BlindState,
    Evaluation,
    OprfKey,
    blind,
    finalize,
    identity_input,
)
from .tag import TAG_BYTES, binding, listing_key, owner_id

__all__ = [
    "BlindState", "CONTEXT_STRING", "ELEMENT_BYTES", "EVALUATION_BATCH_MAX", "Evaluation",
    "IDENTITY_ENVELOPE_BYTES", "MEMO_READERS_MAX", "MEMO_READER_BYTES", "MEMO_VERSION",
    "OPRF_KEY_INFO", "OprfKey", "PROOF_BYTES", "RegulatorIdentityKeys", "TAG_BYTES", "binding",
    "blind", "check_memo", "finalize", "identity_input", "identity_keys_from_seed",
    "is_sealed_memo", "listing_key", "memo_context", "memo_key_from_seed", "open_identity",
    "open_memo", "owner_id", "seal_identity", "seal_memo", "sealed_memo_len",
]
