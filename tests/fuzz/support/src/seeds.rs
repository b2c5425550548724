//! Valid encodings of every input kind, to seed the corpora: the fuzzer
//! mutates from inputs that reach deep into the decoders instead of
//! guessing a whole valid transaction from nothing.
//!
//! Targets that decode several types take a selector byte first (the
//! lists below); the seeds use the same layout.

use hutong_consensus::messages::{Message, Proposal, Timeout, Vote};
use hutong_consensus::safety::SafetyData;
use hutong_consensus::types::{
    Block, Digest, Epoch, Height, QuorumCert, Round, TimeoutCert, TimeoutData, ValidatorId,
};
use hutong_genesis::template::{generate, TemplateOptions};
use hutong_genesis::Genesis;
use hutong_runtime::block::{prove_tx, tx_root};
use hutong_runtime::governance::{Action, ConsensusTiming, MemberRole};
use hutong_runtime::receipt::{Effect, FailureReason, Outcome, Receipt};
use hutong_runtime::state::{AssetLimits, StateKey};
use hutong_runtime::store::{prove, MemStore, StateProof};
use hutong_runtime::tx::{Expiry, FreezeReason, Payout};
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Hash, Height as TxHeight, Keypair, Nonce,
    SignedTransaction, Tier, Transaction, TransferId, TxKind,
};
use rand_core::SeedableRng;

use crate::sim;
use crate::wire::{
    ConsensusEnvelope, Payload, ResultClaim, StoredBlock, SyncRequest, SyncResponse, TxGossip,
};

/// Selector byte of `consensus_wire` inputs: `data[0] % len` picks the type.
pub const CONSENSUS_KINDS: [&str; 11] = [
    "message",
    "block",
    "quorum_cert",
    "timeout_cert",
    "vote",
    "proposal",
    "timeout",
    "envelope",
    "sync_request",
    "sync_response",
    "safety_data",
];

/// Selector byte of `payload_proofs` inputs.
pub const PAYLOAD_KINDS: [&str; 8] = [
    "payload",
    "stored_block",
    "tx_gossip",
    "inclusion_proof",
    "state_proof",
    "state_key",
    "state_value",
    "receipt",
];

/// Selector byte of `text_inputs` inputs (the rest is the text).
pub const TEXT_KINDS: [&str; 7] = [
    "address",
    "hash",
    "public_key",
    "signature",
    "asset_code",
    "utc_offset",
    "tx_hex",
];

fn selected(kinds: &[&str], kind: &str, body: Vec<u8>) -> Vec<u8> {
    let i = kinds.iter().position(|k| *k == kind).expect("known kind");
    let mut out = vec![i as u8];
    out.extend(body);
    out
}

fn enc<T: borsh::BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("borsh into a Vec cannot fail")
}

pub(crate) fn key(i: u8) -> Keypair {
    Keypair::from_secret_bytes(&[i.wrapping_add(1); 32])
}

fn cny() -> AssetCode {
    AssetCode::new("CNY").expect("valid code")
}

/// One signed transaction of each kind, one co-signed, one with a memo.
pub fn transactions() -> Vec<SignedTransaction> {
    let sender = key(0);
    let institution = key(1);
    let to = Address::of(&key(2).public());
    let kinds = vec![
        TxKind::Transfer {
            to,
            asset: cny(),
            amount: Amount(12_345),
            transfer_id: TransferId(7),
        },
        TxKind::BatchTransfer {
            asset: AssetCode::new("HKD").expect("valid code"),
            payouts: vec![
                Payout {
                    to,
                    amount: Amount(1),
                },
                Payout {
                    to: Address::of(&key(3).public()),
                    amount: Amount(u128::MAX),
                },
            ],
            transfer_id: TransferId(u128::MAX),
        },
        TxKind::OpenAccount {
            owner: key(4).public(),
            tier: Tier(2),
            identity_commitment: Hash([9; 32]),
            identity_envelope: Vec::new(),
        },
        TxKind::SetTier {
            account: to,
            tier: Tier(3),
        },
        TxKind::Freeze {
            account: to,
            reason: FreezeReason::LegalOrder,
        },
        TxKind::Unfreeze { account: to },
        TxKind::Mint {
            to,
            asset: cny(),
            amount: Amount(1_000_000),
        },
        TxKind::Burn {
            asset: AssetCode::new("EURC1").expect("valid code"),
            amount: Amount(5),
        },
        // Governance: a proposal with actions of each shape, a vote, a
        // withdrawal.
        TxKind::Propose {
            actions: vec![
                Action::AddMember {
                    name: "bank-e".into(),
                    institution_key: key(5).public(),
                    node_key: key(6).public(),
                    role: MemberRole::Validator,
                    p2p_address: Some("/ip4/10.0.0.5/tcp/26600".into()),
                },
                Action::RotateInstitutionKey {
                    name: "bank-a".into(),
                    institution_key: key(7).public(),
                },
                Action::SetTierLimits {
                    tier: Tier(1),
                    name: "basic".into(),
                    limits: AssetLimits {
                        asset: cny(),
                        single_max: Amount(10),
                        daily_max: Amount(20),
                        step_up_threshold: Some(Amount(5)),
                    },
                },
                Action::SetConsensusTiming {
                    timing: ConsensusTiming::default(),
                },
            ],
            voting_period_ms: 86_400_000,
        },
        TxKind::Vote {
            proposal: 3,
            approve: false,
        },
        TxKind::Withdraw { proposal: 3 },
        TxKind::AnchorAuditLog {
            entries: 17,
            head: Hash([0x5a; 32]),
        },
    ];
    let mut out = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let tx = Transaction {
            chain_id: ChainId([0xab; 32]),
            sender: sender.public(),
            sequence: Nonce(i as u64),
            expiry: if i % 2 == 0 {
                Expiry::Height(TxHeight(100))
            } else {
                Expiry::Time(hutong_runtime::TimestampMs(1_767_196_800_000))
            },
            kind,
            cosigner: None,
            memo: if i == 0 {
                b"invoice 42".to_vec()
            } else {
                Vec::new()
            },
        };
        if i == 0 {
            out.push(tx.clone().sign_cosigned(&sender, &institution));
        }
        out.push(tx.sign(&sender));
    }
    out
}

/// A short certified chain from the simulated 4-validator set: blocks of
/// rounds 1 and 2, their certificates, a timeout and a timeout certificate
/// for round 3, and a block of round 4 on that certificate.
pub struct Chain {
    pub blocks: Vec<Block>,
    pub qcs: Vec<QuorumCert>,
    pub proposals: Vec<Proposal>,
    pub votes: Vec<Vote>,
    pub timeout: Timeout,
    pub tc: TimeoutCert,
}

fn qc_of(block: &Block) -> (QuorumCert, Vec<Vote>) {
    let data = block.vote_data();
    let votes: Vec<Vote> = (0..3u16)
        .map(|v| Vote {
            data,
            voter: ValidatorId(v),
            signature: sim::sign_with(&sim::secret(usize::from(v)), &data.signing_message()),
        })
        .collect();
    let qc = QuorumCert {
        data,
        signers: votes.iter().map(|v| v.voter).collect(),
        signatures: votes.iter().map(|v| v.signature).collect(),
    };
    (qc, votes)
}

fn propose(block: Block) -> Proposal {
    Proposal {
        signature: sim::sign_with(&sim::secret(usize::from(block.proposer.0)), &block.id()),
        block,
    }
}

pub fn chain() -> Chain {
    let set = sim::validator_set();
    let mut qcs = vec![set.genesis_qc()];
    let mut blocks = Vec::new();
    let mut proposals = Vec::new();
    let mut votes = Vec::new();
    for round in 1..=2u64 {
        let justify = qcs.last().expect("genesis").clone();
        let block = Block {
            epoch: Epoch(1),
            round: Round(round),
            height: Height(round),
            proposer: ValidatorId((round % sim::VALIDATORS as u64) as u16),
            timestamp_ms: 1_000 * round,
            payload: Digest::tagged(b"payload", &round.to_le_bytes()),
            justify,
            timeout_cert: None,
        };
        let (qc, v) = qc_of(&block);
        votes.extend(v);
        qcs.push(qc);
        proposals.push(propose(block.clone()));
        blocks.push(block);
    }
    let high_qc = qcs.last().expect("two").clone();
    let timeout_data = |v: u16| {
        let message = TimeoutData {
            epoch: Epoch(1),
            round: Round(3),
            high_qc_round: high_qc.round(),
        }
        .signing_message(&set.genesis());
        sim::sign_with(&sim::secret(usize::from(v)), &message)
    };
    let timeout = Timeout {
        data: TimeoutData {
            epoch: Epoch(1),
            round: Round(3),
            high_qc_round: high_qc.round(),
        },
        high_qc: high_qc.clone(),
        high_tc: None,
        voter: ValidatorId(0),
        signature: timeout_data(0),
    };
    let tc = TimeoutCert {
        epoch: Epoch(1),
        round: Round(3),
        signers: (0..3u16)
            .map(|v| (ValidatorId(v), high_qc.round()))
            .collect(),
        signatures: (0..3u16).map(timeout_data).collect(),
    };
    let block = Block {
        epoch: Epoch(1),
        round: Round(4),
        height: Height(3),
        proposer: ValidatorId(0),
        timestamp_ms: 4_000,
        payload: Digest::tagged(b"payload", &4u64.to_le_bytes()),
        justify: high_qc,
        timeout_cert: Some(tc.clone()),
    };
    proposals.push(propose(block.clone()));
    blocks.push(block);
    Chain {
        blocks,
        qcs,
        proposals,
        votes,
        timeout,
        tc,
    }
}

fn payload() -> Payload {
    Payload {
        result: ResultClaim {
            height: 1,
            state_root: Hash([1; 32]),
            receipts_root: Hash([2; 32]),
        },
        txs: transactions(),
    }
}

pub fn consensus_wire() -> Vec<Vec<u8>> {
    let c = chain();
    let s = |kind: &str, body: Vec<u8>| selected(&CONSENSUS_KINDS, kind, body);
    let mut out = Vec::new();
    for p in &c.proposals {
        out.push(s("message", enc(&Message::Proposal(p.clone()))));
        out.push(s("proposal", enc(p)));
        out.push(s("block", enc(&p.block)));
    }
    for v in c.votes.iter().take(2) {
        out.push(s("message", enc(&Message::Vote(v.clone()))));
        out.push(s("vote", enc(v)));
    }
    out.push(s("message", enc(&Message::Timeout(c.timeout.clone()))));
    out.push(s("timeout", enc(&c.timeout)));
    out.push(s("message", enc(&Message::TimeoutCert(c.tc.clone()))));
    out.push(s("timeout_cert", enc(&c.tc)));
    for qc in &c.qcs {
        out.push(s("quorum_cert", enc(qc)));
    }
    let stored = StoredBlock {
        block: c.blocks[0].clone(),
        payload: payload(),
    };
    out.push(s(
        "envelope",
        enc(&ConsensusEnvelope {
            message: Message::Proposal(c.proposals[0].clone()),
            payload: Some(payload()),
        }),
    ));
    out.push(s(
        "envelope",
        enc(&ConsensusEnvelope {
            message: Message::Vote(c.votes[0].clone()),
            payload: None,
        }),
    ));
    out.push(s(
        "sync_request",
        enc(&SyncRequest::Block(c.blocks[1].id())),
    ));
    out.push(s("sync_request", enc(&SyncRequest::Committed { after: 7 })));
    out.push(s(
        "sync_response",
        enc(&SyncResponse::Block(Some(Box::new(stored.clone())))),
    ));
    out.push(s(
        "sync_response",
        enc(&SyncResponse::Committed {
            blocks: vec![stored],
            proof: Some(c.qcs[2].clone()),
        }),
    ));
    out.push(s("sync_response", enc(&SyncResponse::Unavailable)));
    let mut safety = SafetyData::new(Epoch(1));
    safety.last_vote = Some(c.votes[0].data);
    safety.last_timeout = Some(c.timeout.data);
    out.push(s("safety_data", enc(&safety)));
    out
}

/// The genesis of a small generated consortium, and its state store.
pub fn genesis_store() -> (Genesis, MemStore) {
    let text = genesis_docs().into_iter().next().expect("one document");
    let genesis = Genesis::from_toml(&text).expect("the template is valid");
    let mut store = MemStore::new();
    genesis.apply(&mut store).expect("genesis applies");
    (genesis, store)
}

pub fn payload_proofs() -> Vec<Vec<u8>> {
    let s = |kind: &str, body: Vec<u8>| selected(&PAYLOAD_KINDS, kind, body);
    let mut out = Vec::new();
    let p = payload();
    out.push(s("payload", enc(&p)));
    out.push(s(
        "stored_block",
        enc(&StoredBlock {
            block: chain().blocks[0].clone(),
            payload: p.clone(),
        }),
    ));
    out.push(s(
        "tx_gossip",
        enc(&TxGossip::Batch {
            txs: p.txs.iter().map(|t| t.encode()).collect(),
            attestation: None,
            verifiers: vec![1],
        }),
    ));
    let root = tx_root(&p.txs);
    for i in [0, 3, p.txs.len() - 1] {
        let proof = prove_tx(&p.txs, i).expect("index in range");
        let leaf = hutong_runtime::block::tx_leaf(&p.txs[i]);
        out.push(s("inclusion_proof", enc(&(proof, leaf, root))));
    }
    let (genesis, store) = genesis_store();
    let state_root = hutong_runtime::store::state_root(&store, 0).expect("version 0");
    let mut keys: Vec<StateKey> = genesis
        .initial_state()
        .into_iter()
        .map(|(k, _)| k)
        .take(4)
        .collect();
    keys.push(StateKey::Balance(Address([7; 20]), cny()));
    for k in keys {
        let proof: StateProof = prove(&store, k, 0).expect("proves");
        out.push(s("state_proof", enc(&(proof, state_root))));
        out.push(s("state_key", enc(&k)));
    }
    for (_, v) in genesis.initial_state().into_iter().take(6) {
        out.push(s("state_value", enc(&v)));
    }
    let receipts = [
        Receipt {
            tx_hash: Hash([3; 32]),
            outcome: Outcome::Success {
                effects: vec![
                    Effect::Debit {
                        account: Address([1; 20]),
                        asset: cny(),
                        amount: Amount(5),
                    },
                    Effect::Credit {
                        account: Address([2; 20]),
                        asset: cny(),
                        amount: Amount(5),
                    },
                ],
            },
        },
        Receipt {
            tx_hash: Hash([4; 32]),
            outcome: Outcome::Failed {
                reason: FailureReason::InsufficientBalance {
                    asset: cny(),
                    available: Amount(1),
                    required: Amount(2),
                },
            },
        },
    ];
    for r in &receipts {
        out.push(s("receipt", enc(r)));
    }
    out
}

/// Generated genesis documents as TOML: a 4-validator consortium with a
/// regulator and accounts, a bigger one with observers, and a dev chain.
pub fn genesis_docs() -> Vec<String> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let options = [
        TemplateOptions {
            demo_accounts: 2,
            ..TemplateOptions::default()
        },
        TemplateOptions {
            validators: 5,
            observers: 2,
            regulator: false,
            demo_accounts: 0,
            ..TemplateOptions::default()
        },
        TemplateOptions {
            validators: 1,
            regulator: true,
            demo_accounts: 1,
            ..TemplateOptions::default()
        },
    ];
    options
        .iter()
        .map(|o| {
            let mut doc = generate(o, &mut rng).doc;
            if o.validators == 1 {
                doc.dev_chain = true;
            }
            toml::to_string(&doc).expect("a genesis document serialises")
        })
        .collect()
}

pub fn text_inputs() -> Vec<Vec<u8>> {
    let s = |kind: &str, text: String| selected(&TEXT_KINDS, kind, text.into_bytes());
    let pk = key(0).public();
    let tx = &transactions()[0];
    vec![
        s("address", Address::of(&pk).to_string()),
        s("address", Address::of(&pk).to_string().to_uppercase()),
        s("hash", Hash([0x5a; 32]).to_hex()),
        s("public_key", pk.to_hex()),
        s("signature", tx.signature.to_hex()),
        s("asset_code", "EURC1".into()),
        s("utc_offset", "+08:00".into()),
        s("utc_offset", "-05:30".into()),
        s("tx_hex", format!("0x{}", hex::encode(tx.encode()))),
    ]
}

/// Scripts for `consensus_core`. Its operations are read with `arbitrary`,
/// where zero bytes pick the first variant (deliver) and the first message
/// in flight: all zeros is a network that delivers in order, and the
/// cluster commits a block every round. The fuzzer mutates from there.
pub fn consensus_scripts() -> Vec<Vec<u8>> {
    let mut reordered = Vec::new();
    for i in 0..500u16 {
        reordered.extend([0, 0, 0, 0]);
        reordered.extend((i % 5).to_le_bytes());
    }
    vec![vec![0; 600], vec![0; 3000], reordered]
}

/// The genesis of the chain the audit proof seeds come from: the cluster
/// test that changes the validator set three times, so the proofs carry
/// three epoch handoffs (`HUTONG_PROOF_SEEDS_OUT=$PWD/tests/fuzz/seeds/audit
/// cargo test --workspace --test cluster reconfigure` writes them).
pub const AUDIT_GENESIS: &str = include_str!("../../seeds/audit/genesis.toml");

/// Genuine proof files of that chain (a transfer, a balance), and the
/// borsh proof inside each, which `audit_proof` reads when the input does
/// not start with `{`.
pub fn audit_proofs() -> Vec<Vec<u8>> {
    let files: [&[u8]; 2] = [
        include_bytes!("../../seeds/audit/tx.proof.json"),
        include_bytes!("../../seeds/audit/balance.proof.json"),
    ];
    let mut seeds = Vec::new();
    for file in files {
        seeds.push(file.to_vec());
        let value: serde_json::Value = serde_json::from_slice(file).expect("a seed proof is JSON");
        let proof = value["proof"].as_str().expect("a seed proof has its proof");
        seeds.push(hex::decode(proof).expect("the proof is hex"));
    }
    seeds
}

/// Frames of the `/hutong/txs/2` protocol as a validator sends them: a
/// batch attested by its origin with a named co-verifier, a co-verifier's
/// attestation, and an observer's batch without one.
pub fn txs_gossip() -> Vec<Vec<u8>> {
    use hutong_wire::attestation::{batch_digest, Attestation};
    use hutong_wire::p2p::{encode_frame, TXS_BYTES_MAX};
    let raws: Vec<Vec<u8>> = transactions().iter().map(|t| t.encode()).collect();
    let chain = transactions()[0].tx.chain_id;
    let digest = batch_digest(chain, &raws);
    let origin = Attestation::sign(&sim::node_key(0), chain, 0, digest);
    let checker = Attestation::sign(&sim::node_key(2), chain, 2, digest);
    [
        TxGossip::Batch {
            txs: raws.clone(),
            attestation: Some(origin),
            verifiers: vec![2],
        },
        TxGossip::Attest(checker),
        TxGossip::Batch {
            txs: raws,
            attestation: None,
            verifiers: Vec::new(),
        },
    ]
    .iter()
    .map(|g| encode_frame(g, TXS_BYTES_MAX).expect("a small frame"))
    .collect()
}

/// The state tree the `snapshot_chunks` target restores: 600 balances
/// written over three versions (some changed, some deleted), and the root
/// of its last version.
pub fn snapshot_source() -> (hutong_runtime::store::MemStore, u64, hutong_runtime::Hash) {
    use hutong_runtime::state::{Holding, StateKey, StateValue};
    use hutong_runtime::store::{prepare_commit, state_root, MemStore, StateStore};
    use hutong_runtime::{Address, Amount, AssetCode};
    let cny = AssetCode::new("CNY").expect("a valid code");
    let mut store = MemStore::new();
    for version in 0..3u64 {
        let changes = (0..600u64)
            .filter(|i| version == 0 || i % (version + 2) == 0)
            .map(|i| {
                let mut a = [0u8; 20];
                a[..8].copy_from_slice(&i.to_le_bytes());
                let value = (version == 0 || i % 7 != 0).then(|| {
                    StateValue::Balance(Holding::of(Amount(u128::from(i * 100 + version))))
                });
                (StateKey::Balance(Address(a), cny), value)
            });
        let update = prepare_commit(&store, version, changes).expect("an in-memory commit");
        store.apply(update).expect("an in-memory commit");
    }
    let root = state_root(&store, 2).expect("the root of the last version");
    (store, 2, root)
}

/// The source tree's chunks as a peer serves them (a borsh `Vec<Chunk>`),
/// in a few chunk sizes.
pub fn snapshot_chunks() -> Vec<Vec<u8>> {
    use hutong_runtime::snapshot::read_chunk;
    let (store, version, _) = snapshot_source();
    [1usize, 17, 200, 4_096]
        .into_iter()
        .map(|size| {
            let mut chunks = Vec::new();
            let mut after = None;
            while let Some(c) =
                read_chunk(&store, version, after, size, usize::MAX).expect("a readable tree")
            {
                after = c.last_key();
                chunks.push(c);
                if size == 1 && chunks.len() == 8 {
                    break;
                }
            }
            borsh::to_vec(&chunks).expect("borsh into a Vec")
        })
        .collect()
}

/// Every target's seeds, by target name.
pub fn all() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    vec![
        (
            "transactions",
            transactions().iter().map(|t| t.encode()).collect(),
        ),
        ("consensus_wire", consensus_wire()),
        ("payload_proofs", payload_proofs()),
        (
            "genesis",
            genesis_docs().into_iter().map(String::into_bytes).collect(),
        ),
        ("text_inputs", text_inputs()),
        ("consensus_core", consensus_scripts()),
        ("audit_proof", audit_proofs()),
        ("txs_gossip", txs_gossip()),
        ("snapshot_chunks", snapshot_chunks()),
    ]
}
