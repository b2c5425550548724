//! Member cards: how a member joins the genesis ceremony without handing
//! anyone a secret.
//!
//! Each member makes its institution key and node key on its own machine
//! (`hutong keys new`) and hands the coordinator a card: its name, role,
//! public keys and p2p address, signed by both keys. The institution
//! key's signature says the institution asks to be listed so; the node
//! key's signature proves the node key is really the member's (nobody can
//! list somebody else's node as their own). The coordinator assembles
//! genesis from the cards ([`crate::assemble`]); every member then checks
//! that genesis lists its card exactly.
//!
//! A card is TOML, public, and safe to send by email:
//!
//! ```toml
//! kind = "hutong-member-card/v1"
//! name = "bank-a"
//! role = "validator"
//! institution_key = "…64 hex…"
//! node_key = "…64 hex…"
//! p2p_address = "/ip4/10.0.0.1/tcp/26600"
//! institution_signature = "…128 hex…"
//! node_signature = "…128 hex…"
//! ```
//!
//! Both signatures cover `SHA-256("hutong/member-card/v1" || 0 ||
//! borsh(CardBody))`, where the body is every field above but the
//! signatures. For a regulator, `institution_key` is the regulator key
//! (it signs freezes and audit requests).
//!
//! Optional public keys of the identity layer: a member's `memo_key`
//! (the X25519 key its customers' memos are sealed to), a regulator's
//! `[identity]` (`oprf_key`, `hpke_key`: the identity service it runs).
//! When a card has any, the signed bytes are `borsh(CardBody) ‖
//! borsh((memo_key, identity))` (each an `Option` of 32-byte arrays);
//! a card without them is signed exactly as before.

use borsh::BorshSerialize;
use hutong_runtime::crypto::{domain, CryptoError};
use hutong_runtime::{Hash, Keypair, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::doc::IdentityDoc;
use crate::validate::{check_address, ADDRESS_BYTES_MAX, NAME_BYTES_MAX};
use hutong_runtime::state::IdentityParams;

pub const CARD_KIND: &str = "hutong-member-card/v1";
/// A card is a few hundred bytes; anything much larger is not a card.
pub const CARD_BYTES_MAX: usize = 4096;

/// What a member asks to be in genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, BorshSerialize)]
#[serde(rename_all = "lowercase")]
pub enum CardRole {
    Validator,
    Observer,
    Regulator,
}

impl CardRole {
    pub fn name(self) -> &'static str {
        match self {
            CardRole::Validator => "validator",
            CardRole::Observer => "observer",
            CardRole::Regulator => "regulator",
        }
    }
}

/// The card as written in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardDoc {
    pub kind: String,
    pub name: String,
    pub role: CardRole,
    pub institution_key: String,
    pub node_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_address: Option<String>,
    /// A member's memo key (64 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo_key: Option<String>,
    /// A regulator's identity service keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityDoc>,
    pub institution_signature: String,
    pub node_signature: String,
}

/// A card whose fields parsed and whose two signatures verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub name: String,
    pub role: CardRole,
    pub institution_key: PublicKey,
    pub node_key: PublicKey,
    pub p2p_address: Option<String>,
    pub extras: CardExtras,
}

/// A card's optional keys of the identity layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CardExtras {
    /// A member's memo key (X25519).
    pub memo_key: Option<[u8; 32]>,
    /// A regulator's identity service.
    pub identity: Option<IdentityParams>,
}

/// The signed part of a card, in its canonical encoding.
#[derive(BorshSerialize)]
struct CardBody<'a> {
    name: &'a str,
    role: CardRole,
    institution_key: &'a PublicKey,
    node_key: &'a PublicKey,
    p2p_address: &'a Option<String>,
}

impl Card {
    /// The hash both keys sign (for signing with a key held elsewhere,
    /// an HSM for instance).
    pub fn signed_message(&self) -> Hash {
        let body = CardBody {
            name: &self.name,
            role: self.role,
            institution_key: &self.institution_key,
            node_key: &self.node_key,
            p2p_address: &self.p2p_address,
        };
        let mut bytes = borsh::to_vec(&body).expect("borsh encoding into a Vec cannot fail");
        if self.extras != CardExtras::default() {
            let identity = self.extras.identity.map(|i| (i.oprf_key, i.hpke_key));
            bytes.extend(
                borsh::to_vec(&(self.extras.memo_key, identity))
                    .expect("borsh encoding into a Vec cannot fail"),
            );
        }
        Hash::tagged(domain::MEMBER_CARD, &bytes)
    }

    /// Makes and signs a card. The keys are the member's own; nothing
    /// secret goes into the card.
    pub fn sign(
        name: &str,
        role: CardRole,
        institution: &Keypair,
        node: &Keypair,
        p2p_address: Option<String>,
    ) -> Result<CardDoc, CardError> {
        Card::sign_with(
            name,
            role,
            institution,
            node,
            p2p_address,
            CardExtras::default(),
        )
    }

    /// [`Card::sign`] with the identity layer's keys: a member's memo key,
    /// a regulator's identity service.
    pub fn sign_with(
        name: &str,
        role: CardRole,
        institution: &Keypair,
        node: &Keypair,
        p2p_address: Option<String>,
        extras: CardExtras,
    ) -> Result<CardDoc, CardError> {
        let card = Card {
            name: name.to_string(),
            role,
            institution_key: institution.public(),
            node_key: node.public(),
            p2p_address,
            extras,
        };
        check_extras(role, &extras).map_err(|(f, p)| CardError::invalid("(new card)", f, p))?;
        // The checks a reader makes, made before anything is signed.
        check_name(&card.name).map_err(|p| CardError::invalid("(new card)", "name", p))?;
        check_hint(&card.p2p_address)
            .map_err(|p| CardError::invalid("(new card)", "p2p_address", p))?;
        if card.institution_key == card.node_key {
            return Err(CardError::invalid(
                "(new card)",
                "node_key",
                CardProblem::SameKey,
            ));
        }
        let message = card.signed_message();
        Ok(CardDoc {
            kind: CARD_KIND.to_string(),
            name: card.name,
            role,
            institution_key: card.institution_key.to_hex(),
            node_key: card.node_key.to_hex(),
            p2p_address: card.p2p_address,
            memo_key: extras.memo_key.map(hex::encode),
            identity: extras.identity.map(|i| IdentityDoc {
                oprf_key: hex::encode(i.oprf_key),
                hpke_key: hex::encode(i.hpke_key),
            }),
            institution_signature: institution.sign(&message.0).to_hex(),
            node_signature: node.sign(&message.0).to_hex(),
        })
    }
}

impl CardDoc {
    /// The card's file text, with a comment saying what it is.
    pub fn to_toml(&self) -> String {
        format!(
            "# Hutong member card: public keys only, safe to share.\n\
             # Check it with: hutong keys show-card FILE\n{}",
            toml::to_string(self).expect("a card always encodes as TOML")
        )
    }

    /// Parses a card file's text; `label` (usually the file name) names
    /// the card in errors.
    pub fn from_toml(label: &str, text: &str) -> Result<CardDoc, CardError> {
        if text.len() > CARD_BYTES_MAX {
            return Err(CardError::Parse {
                card: label.to_string(),
                message: format!(
                    "{} bytes; a member card is at most {CARD_BYTES_MAX}",
                    text.len()
                ),
            });
        }
        toml::from_str(text).map_err(|e| CardError::Parse {
            card: label.to_string(),
            // toml's messages span several lines; one is enough here.
            message: e.message().to_string(),
        })
    }

    /// Checks every field and both signatures.
    pub fn verify(&self, label: &str) -> Result<Card, CardError> {
        let err =
            |field: &'static str, problem: CardProblem| CardError::invalid(label, field, problem);
        if self.kind != CARD_KIND {
            return Err(err(
                "kind",
                CardProblem::Kind {
                    found: self.kind.chars().take(64).collect(),
                },
            ));
        }
        check_name(&self.name).map_err(|p| err("name", p))?;
        let institution_key = key(&self.institution_key).map_err(|p| err("institution_key", p))?;
        let node_key = key(&self.node_key).map_err(|p| err("node_key", p))?;
        if institution_key == node_key {
            return Err(err("node_key", CardProblem::SameKey));
        }
        check_hint(&self.p2p_address).map_err(|p| err("p2p_address", p))?;
        let hex32 = |field: &'static str, v: &str| -> Result<[u8; 32], CardError> {
            hex::decode(v)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| err(field, CardProblem::BadHex))
        };
        let extras = CardExtras {
            memo_key: self
                .memo_key
                .as_deref()
                .map(|k| hex32("memo_key", k))
                .transpose()?,
            identity: match &self.identity {
                Some(i) => Some(IdentityParams {
                    oprf_key: hex32("identity.oprf_key", &i.oprf_key)?,
                    hpke_key: hex32("identity.hpke_key", &i.hpke_key)?,
                }),
                None => None,
            },
        };
        check_extras(self.role, &extras).map_err(|(f, p)| err(f, p))?;
        let card = Card {
            name: self.name.clone(),
            role: self.role,
            institution_key,
            node_key,
            p2p_address: self.p2p_address.clone(),
            extras,
        };
        let message = card.signed_message();
        for (field, signer, text) in [
            (
                "institution_signature",
                &institution_key,
                &self.institution_signature,
            ),
            ("node_signature", &node_key, &self.node_signature),
        ] {
            let signature = Signature::from_hex(text).map_err(|_| {
                err(
                    field,
                    CardProblem::BadSignature {
                        reason: "not 128 hex characters",
                    },
                )
            })?;
            signer.verify(&message.0, &signature).map_err(|_| {
                err(
                    field,
                    CardProblem::BadSignature {
                        reason: "it does not verify: the card was changed after signing, or signed by another key",
                    },
                )
            })?;
        }
        Ok(card)
    }
}

/// A memo key belongs to a member, identity keys to a regulator.
fn check_extras(role: CardRole, extras: &CardExtras) -> Result<(), (&'static str, CardProblem)> {
    if extras.memo_key.is_some() && role == CardRole::Regulator {
        return Err(("memo_key", CardProblem::NotForRole { role: role.name() }));
    }
    if let Some(i) = &extras.identity {
        if role != CardRole::Regulator {
            return Err(("identity", CardProblem::NotForRole { role: role.name() }));
        }
        if !hutong_runtime::crypto::is_ristretto_element(&i.oprf_key) {
            return Err(("identity.oprf_key", CardProblem::BadHex));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("{card}: not a member card: {message}")]
    Parse { card: String, message: String },
    #[error("{card}: field `{field}`: {problem}")]
    Invalid {
        card: String,
        field: &'static str,
        problem: CardProblem,
    },
}

impl CardError {
    pub(crate) fn invalid(card: &str, field: &'static str, problem: CardProblem) -> CardError {
        CardError::Invalid {
            card: card.to_string(),
            field,
            problem,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardProblem {
    #[error("{found:?} is not {CARD_KIND:?}")]
    Kind { found: String },
    #[error("{value:?} must be 1 to {NAME_BYTES_MAX} characters of a-z, 0-9, '-' or '_'")]
    BadName { value: String },
    #[error("{0}")]
    BadKey(CryptoError),
    #[error("the node key is the institution key; they must be two different keys")]
    SameKey,
    #[error("{value:?} is not a p2p address like /ip4/10.0.0.1/tcp/26600 (at most {ADDRESS_BYTES_MAX} bytes)")]
    BadAddress { value: String },
    #[error("the signature is bad: {reason}")]
    BadSignature { reason: &'static str },
    #[error("{name:?} is already the name of {first}")]
    DuplicateName { name: String, first: String },
    #[error("key {key} is already used by {first}")]
    DuplicateKey { key: String, first: String },
    #[error("not 64 hex characters of a valid key")]
    BadHex,
    #[error(
        "a {role}'s card may not carry it (a memo key is a member's, identity keys a regulator's)"
    )]
    NotForRole { role: &'static str },
}

fn key(text: &str) -> Result<PublicKey, CardProblem> {
    PublicKey::from_hex(text).map_err(CardProblem::BadKey)
}

pub(crate) fn check_name(name: &str) -> Result<(), CardProblem> {
    let ok = !name.is_empty()
        && name.len() <= NAME_BYTES_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CardProblem::BadName {
            value: name.chars().take(80).collect(),
        })
    }
}

fn check_hint(hint: &Option<String>) -> Result<(), CardProblem> {
    match hint {
        Some(text) if !check_address(text) => Err(CardProblem::BadAddress {
            value: text.chars().take(80).collect(),
        }),
        _ => Ok(()),
    }
}
