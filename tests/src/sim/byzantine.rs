//! What the Byzantine validator (validator 0) does to its own messages on
//! their way out. Its host is the honest code; the lies are told here, on
//! the wire, where a real attacker would tell them.

use hutong_consensus::core::Signer;
use hutong_consensus::messages::{Message, Timeout};
use hutong_consensus::types::{Epoch, Round, TimeoutData, ValidatorId};
use hutong_wire::p2p::ConsensusEnvelope;
use rand::Rng;

use super::{Byzantine, Sim, FORGED};

impl Sim {
    /// The messages the Byzantine `node` sends to validator `to` instead of
    /// `envelope`, each with the validator it goes to.
    pub(super) fn misbehave(
        &mut self,
        node: usize,
        to: usize,
        envelope: ConsensusEnvelope,
    ) -> Vec<(usize, ConsensusEnvelope)> {
        let signer = self.nodes[node].signer.clone();
        match (self.faults.byzantine, envelope) {
            (
                Some(Byzantine::EquivocatingLeader),
                ConsensusEnvelope {
                    message: Message::Proposal(mut p),
                    payload,
                },
            ) if to % 2 == 1 => {
                // Odd validators get a second version of the block (the
                // same payload, another timestamp); validator 1 gets both,
                // and so holds the evidence.
                let mut out = Vec::new();
                if to == 1 {
                    out.push((
                        to,
                        ConsensusEnvelope {
                            message: Message::Proposal(p.clone()),
                            payload: payload.clone(),
                        },
                    ));
                }
                p.block.timestamp_ms += 1;
                p.signature = signer.sign(&p.block.id());
                out.push((
                    to,
                    ConsensusEnvelope {
                        message: Message::Proposal(p),
                        payload,
                    },
                ));
                out
            }
            (Some(Byzantine::Forger), envelope) => {
                let mut out = vec![(to, self.forge(&signer, envelope))];
                // And a flood of far-future timeouts.
                let high_qc = self.nodes[node].host.core().high_qc().clone();
                let epoch_genesis = self.nodes[node].host.core().validators().genesis();
                for k in 0..3u64 {
                    let data = TimeoutData {
                        epoch: Epoch(1),
                        round: Round(1_000_000 + k),
                        high_qc_round: high_qc.round(),
                    };
                    let t = Timeout {
                        signature: signer.sign(&data.signing_message(&epoch_genesis)),
                        data,
                        high_qc: high_qc.clone(),
                        high_tc: None,
                        voter: ValidatorId(0),
                    };
                    out.push((
                        to,
                        ConsensusEnvelope {
                            message: Message::Timeout(t),
                            payload: None,
                        },
                    ));
                }
                out
            }
            (_, envelope) => vec![(to, envelope)],
        }
    }

    /// The Forger's version of a message: a vote with a corrupted
    /// signature, a proposal whose payload claims a forged execution
    /// result (signed: only the host's check of the claim catches it), or
    /// a proposal whose certificate counts one signer twice.
    fn forge(
        &mut self,
        signer: &super::SimSigner,
        envelope: ConsensusEnvelope,
    ) -> ConsensusEnvelope {
        match envelope.message {
            Message::Vote(mut v) if self.rng.gen_bool(0.3) => {
                v.signature.0[5] ^= 1;
                ConsensusEnvelope {
                    message: Message::Vote(v),
                    payload: None,
                }
            }
            Message::Proposal(mut p) if self.rng.gen_bool(0.25) && envelope.payload.is_some() => {
                let mut payload = envelope.payload.expect("checked above");
                payload.result.state_root.0[0] ^= FORGED;
                p.block.payload = payload.digest();
                p.signature = signer.sign(&p.block.id());
                ConsensusEnvelope {
                    message: Message::Proposal(p),
                    payload: Some(payload),
                }
            }
            Message::Proposal(mut p)
                if self.rng.gen_bool(0.5) && p.block.justify.signers.len() > 1 =>
            {
                // f + 1 real votes, one counted twice.
                let qc = &mut p.block.justify;
                qc.signers[1] = qc.signers[0];
                qc.signatures[1] = qc.signatures[0];
                p.signature = signer.sign(&p.block.id());
                ConsensusEnvelope {
                    message: Message::Proposal(p),
                    payload: envelope.payload,
                }
            }
            message => ConsensusEnvelope {
                message,
                payload: envelope.payload,
            },
        }
    }
}
