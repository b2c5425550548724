//! Identity tags by the verifiable OPRF of RFC 9497 (mode 0x01,
//! ristretto255-SHA512).
//!
//! ```text
//! institution                                   regulator's node (key k, public K)
//! input  = identity_input("CN_RIC:1101…")
//! (state, B) = blind(input)          ── B ──▶
//!                                    ◀── (Z, proof) ──  evaluate(B) = k·B, DLEQ proof
//! tag = finalize(state, input, Z, proof, K)   (refused unless the proof holds for K)
//! ```
//!
//! `B` is a uniformly random group element whatever the identity, so the
//! regulator learns nothing from a request; the proof shows the answer
//! used the key whose public half is in genesis, so an institution cannot
//! be handed a tag under another key.

use rand_core::{CryptoRng, RngCore};
use voprf::{
    BlindedElement, EvaluationElement, Group, Proof, Ristretto255, VoprfClient, VoprfServer,
};

use crate::{malformed, IdentityTag, PrivacyError, TAG_BYTES};

type Suite = Ristretto255;

/// Bytes of a blinded element and of an evaluated element (a compressed
/// ristretto255 point), and of a public key.
pub const ELEMENT_BYTES: usize = 32;
/// Bytes of an evaluation's proof (two scalars).
pub const PROOF_BYTES: usize = 64;
/// Most blinded identities one evaluation request may carry (one proof
/// covers them all).
pub const BATCH_MAX: usize = 64;

/// The OPRF input of an identity written `TYPE:NUMBER`, normalised as the
/// identity commitment's (`hutong_runtime::identity`): the document type
/// upper-cased (`CN_RIC`, `HK_ID`, `PASSPORT_CN`), the number without
/// spaces, `-`, `/`, `(`, `)` and upper-cased; then `borsh(type) ‖
/// borsh(number)` (u32 little-endian lengths). Every institution forms it
/// the same way, so one person has one tag.
pub fn identity_input(identity: &str) -> Result<Vec<u8>, PrivacyError> {
    let (t, n) = identity
        .split_once(':')
        .ok_or_else(|| PrivacyError::IdentitySyntax(identity.to_string()))?;
    let t = hutong_runtime::identity::normalise_type(t)?;
    let n = hutong_runtime::identity::normalise_number(n)?;
    let mut out = Vec::with_capacity(8 + t.len() + n.len());
    for s in [&t, &n] {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    Ok(out)
}

/// What the institution keeps between blinding and finalizing (the blind).
pub struct BlindState(VoprfClient<Suite>);

impl std::fmt::Debug for BlindState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindState(..)")
    }
}

/// Blinds `input`: the state to keep, and the element to send.
pub fn blind<R: RngCore + CryptoRng>(
    input: &[u8],
    rng: &mut R,
) -> Result<(BlindState, [u8; ELEMENT_BYTES]), PrivacyError> {
    let r = VoprfClient::<Suite>::blind(input, rng).map_err(|e| malformed("identity input", e))?;
    let mut element = [0u8; ELEMENT_BYTES];
    element.copy_from_slice(&r.message.serialize());
    Ok((BlindState(r.state), element))
}

/// The regulator's answer to one request: one evaluated element per
/// blinded one, in order, and one proof for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub elements: Vec<[u8; ELEMENT_BYTES]>,
    pub proof: [u8; PROOF_BYTES],
}

/// Unblinds the regulator's answer for the requests of `states` (in the
/// order they were sent) and checks its proof against the regulator's
/// OPRF public key: the tags, or [`PrivacyError::Unverified`].
pub fn finalize(
    states: &[BlindState],
    inputs: &[&[u8]],
    answer: &Evaluation,
    public_key: &[u8; ELEMENT_BYTES],
) -> Result<Vec<IdentityTag>, PrivacyError> {
    if states.len() != inputs.len() || states.len() != answer.elements.len() {
        return Err(malformed(
            "evaluation",
            format!(
                "{} evaluated elements for {} blinded identities",
                answer.elements.len(),
                states.len()
            ),
        ));
    }
    let pk = Suite::deserialize_elem(public_key)
        .map_err(|e| malformed("regulator's OPRF public key", e))?;
    let elements = answer
        .elements
        .iter()
        .map(|e| {
            EvaluationElement::<Suite>::deserialize(e)
                .map_err(|e| malformed("evaluated element", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let proof = Proof::<Suite>::deserialize(&answer.proof).map_err(|e| malformed("proof", e))?;
    let clients: Vec<VoprfClient<Suite>> = states.iter().map(|s| s.0.clone()).collect();
    let inputs: Vec<&[u8]> = inputs.to_vec();
    let outputs = VoprfClient::batch_finalize(&inputs, &clients, &elements, &proof, pk)
        .map_err(|_| PrivacyError::Unverified)?;
    outputs
        .map(|o| {
            let o = o.map_err(|e| malformed("identity input", e))?;
            let mut tag = [0u8; TAG_BYTES];
            tag.copy_from_slice(&o);
            Ok(IdentityTag(tag))
        })
        .collect()
}

/// The regulator's OPRF key.
pub struct OprfKey(VoprfServer<Suite>);

impl std::fmt::Debug for OprfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OprfKey(public {})", hex::encode(self.public_key()))
    }
}

impl OprfKey {
    /// The key derived from `seed` (RFC 9497's DeriveKeyPair, with this
    /// layer's info string).
    pub fn from_seed(seed: &[u8; 32]) -> Result<OprfKey, PrivacyError> {
        VoprfServer::new_from_seed(seed, b"hutong/identity/oprf-key/v1")
            .map(OprfKey)
            .map_err(|e| malformed("OPRF seed", e))
    }

    /// The public key genesis publishes, for institutions to check
    /// evaluations.
    pub fn public_key(&self) -> [u8; ELEMENT_BYTES] {
        let mut out = [0u8; ELEMENT_BYTES];
        out.copy_from_slice(&Suite::serialize_elem(self.0.get_public_key()));
        out
    }

    /// Evaluates 1 to [`BATCH_MAX`] blinded elements with one proof. A
    /// malformed element (not a canonical encoding of a group element, or
    /// the identity) is refused, naming its position.
    pub fn evaluate<R: RngCore + CryptoRng>(
        &self,
        blinded: &[[u8; ELEMENT_BYTES]],
        rng: &mut R,
    ) -> Result<Evaluation, PrivacyError> {
        if blinded.is_empty() || blinded.len() > BATCH_MAX {
            return Err(malformed(
                "request",
                format!("1 to {BATCH_MAX} blinded identities, not {}", blinded.len()),
            ));
        }
        let elements = blinded
            .iter()
            .enumerate()
            .map(|(i, b)| {
                BlindedElement::<Suite>::deserialize(b).map_err(|e| PrivacyError::Malformed {
                    what: "blinded element",
                    detail: format!("number {i}: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .0
            .batch_blind_evaluate(rng, &elements)
            .map_err(|e| malformed("request", e))?;
        let mut proof = [0u8; PROOF_BYTES];
        proof.copy_from_slice(&result.proof.serialize());
        Ok(Evaluation {
            elements: result
                .messages
                .iter()
                .map(|m| {
                    let mut e = [0u8; ELEMENT_BYTES];
                    e.copy_from_slice(&m.serialize());
                    e
                })
                .collect(),
            proof,
        })
    }

    /// The tag of `input` computed directly (no blinding): for tests and
    /// for the regulator's own checks; institutions never can.
    pub fn tag_of(&self, input: &[u8]) -> Result<IdentityTag, PrivacyError> {
        let o = self
            .0
            .evaluate(input)
            .map_err(|e| malformed("identity input", e))?;
        let mut tag = [0u8; TAG_BYTES];
        tag.copy_from_slice(&o);
        Ok(IdentityTag(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand_chacha::ChaCha20Rng {
        let seed: u64 = rand::random();
        println!("seed {seed}");
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    fn key(n: u8) -> OprfKey {
        OprfKey::from_seed(&[n; 32]).unwrap()
    }

    #[test]
    fn the_blinded_round_trip_gives_the_direct_evaluation() {
        let mut rng = rng();
        let k = key(1);
        let input = identity_input("cn_ric: 1101-0119 9003 07451x").unwrap();
        let (state, b) = blind(&input, &mut rng).unwrap();
        let answer = k.evaluate(&[b], &mut rng).unwrap();
        let tags = finalize(&[state], &[&input], &answer, &k.public_key()).unwrap();
        assert_eq!(tags[0], k.tag_of(&input).unwrap());
        // Normalised: the same person written another way.
        let again = identity_input("CN_RIC:11010119900307451X").unwrap();
        assert_eq!(again, input);
    }

    #[test]
    fn a_blinded_request_differs_each_time_and_names_nobody() {
        let mut rng = rng();
        let input = identity_input("HK_ID:A1234563").unwrap();
        let (_, a) = blind(&input, &mut rng).unwrap();
        let (_, b) = blind(&input, &mut rng).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn another_key_is_refused_by_the_proof() {
        let mut rng = rng();
        let input = identity_input("HK_ID:A1234563").unwrap();
        let (state, b) = blind(&input, &mut rng).unwrap();
        let answer = key(2).evaluate(&[b], &mut rng).unwrap();
        let e = finalize(&[state], &[&input], &answer, &key(1).public_key()).unwrap_err();
        assert_eq!(e.code(), "unverified_evaluation");
    }

    #[test]
    fn a_replayed_or_tampered_answer_is_refused() {
        let mut rng = rng();
        let k = key(1);
        let input = identity_input("HK_ID:A1234563").unwrap();
        let (first, b1) = blind(&input, &mut rng).unwrap();
        let old = k.evaluate(&[b1], &mut rng).unwrap();
        // The answer to an earlier request, replayed to a new one.
        let (second, _b2) = blind(&input, &mut rng).unwrap();
        let e = finalize(&[second], &[&input], &old, &k.public_key()).unwrap_err();
        assert_eq!(e.code(), "unverified_evaluation");
        // A flipped bit in the proof.
        let mut bad = old.clone();
        bad.proof[5] ^= 1;
        let e = finalize(&[first], &[&input], &bad, &k.public_key()).unwrap_err();
        assert!(
            matches!(e.code(), "unverified_evaluation" | "malformed"),
            "{e}"
        );
    }

    #[test]
    fn a_batch_has_one_proof_and_keeps_its_order() {
        let mut rng = rng();
        let k = key(3);
        let inputs: Vec<Vec<u8>> = (0..5)
            .map(|i| identity_input(&format!("PASSPORT_CN:E{i:08}")).unwrap())
            .collect();
        let (states, blinded): (Vec<_>, Vec<_>) =
            inputs.iter().map(|i| blind(i, &mut rng).unwrap()).unzip();
        let answer = k.evaluate(&blinded, &mut rng).unwrap();
        let refs: Vec<&[u8]> = inputs.iter().map(|i| i.as_slice()).collect();
        let tags = finalize(&states, &refs, &answer, &k.public_key()).unwrap();
        for (i, t) in inputs.iter().zip(&tags) {
            assert_eq!(*t, k.tag_of(i).unwrap());
        }
    }

    #[test]
    fn malformed_requests_are_refused_not_panicked_on() {
        let mut rng = rng();
        let k = key(1);
        assert_eq!(k.evaluate(&[], &mut rng).unwrap_err().code(), "malformed");
        let too_many = vec![[0u8; 32]; BATCH_MAX + 1];
        assert_eq!(
            k.evaluate(&too_many, &mut rng).unwrap_err().code(),
            "malformed"
        );
        // Not a canonical ristretto255 encoding, and the identity element.
        assert_eq!(
            k.evaluate(&[[0xff; 32]], &mut rng).unwrap_err().code(),
            "malformed"
        );
        assert_eq!(
            k.evaluate(&[[0; 32]], &mut rng).unwrap_err().code(),
            "malformed"
        );
        for bad in ["CN_RIC", "CN RIC:1", "CN_RIC:", "CN_RIC:１２３"] {
            assert_eq!(
                identity_input(bad).unwrap_err().code(),
                "bad_identity",
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn every_identity_round_trips(number in "[A-Z0-9]{1,64}", seed in proptest::prelude::any::<u64>()) {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            let k = key(9);
            let input = identity_input(&format!("CN_RIC:{number}")).unwrap();
            let (state, b) = blind(&input, &mut rng).unwrap();
            let answer = k.evaluate(&[b], &mut rng).unwrap();
            let tags = finalize(&[state], &[&input], &answer, &k.public_key()).unwrap();
            proptest::prop_assert_eq!(&tags[0], &k.tag_of(&input).unwrap());
        }
    }
}
