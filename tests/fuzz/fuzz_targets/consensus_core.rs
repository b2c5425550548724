//! A cluster running the real host logic and consensus core, every step
//! of it chosen by the fuzzer, with a Byzantine validator the script
//! speaks for.
//!
//! Four validators of the deterministic simulator (`hutong_tests::sim`,
//! scripted mode): three run the real host (payload checks, attested
//! sharing, execution gating, catch-up, the mempool) over simulated
//! storage and execution; validator 3 runs nothing, and its key is the
//! script's. The fuzz input is a script of operations: deliver, duplicate
//! or drop any waiting delivery (messages, answers, signature checks,
//! block executions, timers) in any order, fire a node's timers, crash
//! and restart nodes from what they persisted (below the quorum too),
//! let a wallet submit a transfer, hand a node blocks it may not have
//! asked for, inject wire bytes as a consensus envelope from validator 3,
//! and make validator 3 propose (on any known certificate, with a valid
//! or forged result claim), vote, time out, forward certificates and
//! forge them.
//!
//! Checked after every step, by the simulator: no panic; no two nodes
//! execute different blocks or reach different state roots at one
//! height; every commit carries a certificate that commits it; safety
//! data is durable before what it guards is sent, and never goes back
//! within an epoch; honest nodes never penalise or accuse each other.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use hutong_consensus::core::Signer;
use hutong_consensus::messages::{Message, Proposal, Timeout, Vote};
use hutong_consensus::types::{Block, Epoch, Height, QuorumCert, Round, TimeoutData, ValidatorId};
use hutong_tests::sim::{Observed, Sim};
use hutong_wire::p2p::{decode_body, ConsensusEnvelope, SyncResponse};
use libfuzzer_sys::fuzz_target;

/// The validator whose key the script holds.
const BYZANTINE: usize = 3;
/// Most operations one input runs.
const OPS_MAX: usize = 512;

#[derive(Debug, Arbitrary)]
enum Op {
    Deliver { pick: u16 },
    Duplicate { pick: u16 },
    Drop { pick: u16 },
    Wake { node: u8 },
    Crash { node: u8 },
    Restart { node: u8 },
    Submit,
    /// Wire bytes, decoded as the network decodes a consensus frame's
    /// body, from validator 3.
    Raw { to: u8, bytes: Vec<u8> },
    /// A known block handed over as if fetched, asked for or not.
    Fetched { to: u8, pick: u16 },
    /// Known blocks handed over as a sync answer with a known certificate.
    Sync { to: u8, first: u16, len: u8, qc: u16 },
    Byzantine(Byz),
}

#[derive(Debug, Arbitrary)]
enum Byz {
    Propose {
        qc: u16,
        tc: Option<u16>,
        round_ahead: u8,
        height_off: i8,
        claim: u8,
        forged: bool,
        to: u8,
    },
    Vote {
        block: u16,
        round_off: i8,
        to: u8,
    },
    Timeout {
        qc: u16,
        tc: Option<u16>,
        round_ahead: u8,
        lie: Option<u8>,
        to: u8,
    },
    ForwardTc {
        tc: u16,
        to: u8,
    },
    /// A proposal on a known certificate whose round and height are
    /// rewritten (so its signatures no longer hold).
    Forge {
        qc: u16,
        qc_round: u64,
        qc_height: u64,
        round_ahead: u8,
        to: u8,
    },
}

fn pick<T>(items: &[T], i: u16) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(i) % items.len()])
}

fn message(message: Message) -> ConsensusEnvelope {
    ConsensusEnvelope {
        message,
        payload: None,
    }
}

fn proposal(sim: &Sim, observed: &Observed, block: Block, claim: u8, forged: bool) -> ConsensusEnvelope {
    let payload = sim.payload_for(observed, claim, forged);
    let block = Block {
        payload: payload.digest(),
        ..block
    };
    let signature = sim.signer(BYZANTINE).sign(&block.id());
    ConsensusEnvelope {
        message: Message::Proposal(Proposal { block, signature }),
        payload: Some(payload),
    }
}

fn byzantine(sim: &mut Sim, op: Byz) -> Result<(), String> {
    let observed = sim.observed();
    let signer = sim.signer(BYZANTINE);
    let me = ValidatorId(BYZANTINE as u16);
    match op {
        Byz::Propose {
            qc,
            tc,
            round_ahead,
            height_off,
            claim,
            forged,
            to,
        } => {
            let Some(qc) = pick(&observed.qcs, qc).cloned() else {
                return Ok(());
            };
            let tc = tc.and_then(|i| pick(&observed.tcs, i)).cloned();
            let base = tc.as_ref().map_or(qc.round(), |tc| tc.round.max(qc.round()));
            let height = (qc.data.height.0 as i64 + 1 + i64::from(height_off)).max(0) as u64;
            let block = Block {
                epoch: Epoch(1),
                round: Round(base.0 + 1 + u64::from(round_ahead)),
                height: Height(height),
                proposer: me,
                timestamp_ms: sim.wall_ms(),
                payload: hutong_consensus::types::Digest([0; 32]),
                justify: qc,
                timeout_cert: tc,
            };
            let envelope = proposal(sim, &observed, block, claim, forged);
            sim.inject(usize::from(to), envelope)
        }
        Byz::Vote {
            block,
            round_off,
            to,
        } => {
            let Some(stored) = pick(&observed.blocks, block) else {
                return Ok(());
            };
            let mut data = stored.block.vote_data();
            data.round = Round((data.round.0 as i64 + i64::from(round_off)).max(0) as u64);
            let vote = Vote {
                signature: signer.sign(&data.signing_message()),
                data,
                voter: me,
            };
            sim.inject(usize::from(to), message(Message::Vote(vote)))
        }
        Byz::Timeout {
            qc,
            tc,
            round_ahead,
            lie,
            to,
        } => {
            let Some(high_qc) = pick(&observed.qcs, qc).cloned() else {
                return Ok(());
            };
            let high_tc = tc.and_then(|i| pick(&observed.tcs, i)).cloned();
            let data = TimeoutData {
                epoch: Epoch(1),
                round: Round(high_qc.round().0 + 1 + u64::from(round_ahead)),
                high_qc_round: lie.map_or(high_qc.round(), |l| Round(u64::from(l))),
            };
            let t = Timeout {
                signature: signer.sign(&data.signing_message(&sim.epoch_genesis())),
                data,
                high_qc,
                high_tc,
                voter: me,
            };
            sim.inject(usize::from(to), message(Message::Timeout(t)))
        }
        Byz::ForwardTc { tc, to } => {
            let Some(tc) = pick(&observed.tcs, tc).cloned() else {
                return Ok(());
            };
            sim.inject(usize::from(to), message(Message::TimeoutCert(tc)))
        }
        Byz::Forge {
            qc,
            qc_round,
            qc_height,
            round_ahead,
            to,
        } => {
            let Some(mut justify) = pick(&observed.qcs, qc).cloned() else {
                return Ok(());
            };
            justify.data.round = Round(qc_round);
            justify.data.height = Height(qc_height);
            let block = Block {
                epoch: Epoch(1),
                round: Round(qc_round.saturating_add(1 + u64::from(round_ahead))),
                height: Height(qc_height.saturating_add(1)),
                proposer: me,
                timestamp_ms: sim.wall_ms(),
                payload: hutong_consensus::types::Digest([0; 32]),
                justify,
                timeout_cert: None,
            };
            let envelope = proposal(sim, &observed, block, 0, false);
            sim.inject(usize::from(to), envelope)
        }
    }
}

fn run(sim: &mut Sim, op: Op) -> Result<(), String> {
    match op {
        Op::Deliver { pick } => sim.deliver(usize::from(pick)),
        Op::Duplicate { pick } => sim.duplicate(usize::from(pick)),
        Op::Drop { pick } => {
            sim.drop_queued(usize::from(pick));
            Ok(())
        }
        Op::Wake { node } => sim.wake(usize::from(node)),
        Op::Crash { node } => {
            sim.crash(usize::from(node));
            Ok(())
        }
        Op::Restart { node } => sim.restart(usize::from(node)),
        Op::Submit => sim.submit_once(),
        Op::Raw { to, bytes } => match decode_body::<ConsensusEnvelope>(&bytes) {
            Ok(envelope) => sim.inject(usize::from(to), envelope),
            Err(_) => Ok(()),
        },
        Op::Fetched { to, pick: i } => {
            let observed = sim.observed();
            match pick(&observed.blocks, i) {
                Some(stored) => sim.answer(
                    usize::from(to),
                    SyncResponse::Block(Some(Box::new(stored.clone()))),
                    false,
                ),
                None => Ok(()),
            }
        }
        Op::Sync {
            to,
            first,
            len,
            qc,
        } => {
            let observed = sim.observed();
            let mut blocks = observed.blocks.clone();
            blocks.sort_by_key(|b| (b.block.height, b.block.round));
            let start = usize::from(first) % blocks.len().max(1);
            let blocks: Vec<_> = blocks.into_iter().skip(start).take(usize::from(len)).collect();
            let proof: Option<QuorumCert> = pick(&observed.qcs, qc).cloned();
            sim.answer(
                usize::from(to),
                SyncResponse::Committed { blocks, proof },
                true,
            )
        }
        Op::Byzantine(b) => byzantine(sim, b),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let seed = u64::from(u.arbitrary::<u8>().unwrap_or(0));
    let debug = std::env::var_os("HUTONG_FUZZ_DEBUG").is_some();
    let mut sim = Sim::scripted(4, seed, BYZANTINE).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..OPS_MAX {
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        if debug {
            eprintln!("{op:?}");
        }
        if let Err(e) = run(&mut sim, op) {
            panic!("{e}");
        }
    }
});
