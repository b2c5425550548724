//! `hutong recover …`: restarting a consortium that lost more than f
//! validators for good (see `hutong_runtime::recovery`). No database is
//! ever edited by hand:
//!
//! 1. On a surviving node, stopped: `hutong recover draft --home NODE
//!    --validator bank-a --validator mall-c=<new node key> --out r.toml`
//!    writes the plan (its last committed height, block, state root, and
//!    the new validator set), unsigned.
//! 2. Each member checks it (`hutong recover show r.toml`) and signs it
//!    with its institution key (`hutong recover sign --key … r.toml`);
//!    signatures collect in the file (more than two thirds of the members
//!    are needed).
//! 3. Each surviving and replacement node, stopped: `hutong recover apply
//!    --home NODE r.toml`, then start it. The chain goes on in a new
//!    epoch with the named validators.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use hutong_node::config::NodeConfig;
use hutong_node::keyfile;
use hutong_node::recovery::Accepted;
use hutong_runtime::recovery::{
    signers_needed, MemberSignature, NewValidator, RecoveryPlan, RecoveryStatement,
    STATEMENT_BYTES_MAX,
};
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::StateStore;
use hutong_runtime::{ChainId, Hash, Height, PublicKey, Signature};
use serde::{Deserialize, Serialize};

use crate::out::say;

#[derive(Subcommand)]
pub enum RecoverCommand {
    /// Write an unsigned recovery statement from a stopped surviving
    /// node: its last committed height, block and state root, and the
    /// validators the next epoch runs with.
    Draft {
        /// The surviving node's home folder (the node must be stopped).
        #[arg(long)]
        home: PathBuf,
        /// A member whose node validates in the new epoch: `NAME` (its
        /// current node key) or `NAME=NODE_KEY[@P2P_ADDRESS]` (hex; a
        /// replacement machine's new key, and where it listens, which the
        /// other nodes dial). Repeat for each; they take the members'
        /// order.
        #[arg(long = "validator", value_name = "NAME[=NODE_KEY]", required = true)]
        validators: Vec<String>,
        /// The statement file to write (never overwrites).
        #[arg(long)]
        out: PathBuf,
    },
    /// Show a statement: what it recovers, the new set, who signed.
    Show { file: PathBuf },
    /// Sign a statement with a member's institution key (adds the
    /// signature to the file; signing again replaces it).
    Sign {
        /// The member's institution key file.
        #[arg(long)]
        key: PathBuf,
        file: PathBuf,
    },
    /// Give a statement to a stopped node (survivor or replacement). It is
    /// checked against what the node committed and kept; the node starts
    /// in the new epoch at the statement's height.
    Apply {
        /// The node's home folder.
        #[arg(long)]
        home: PathBuf,
        file: PathBuf,
    },
}

pub fn recover(command: RecoverCommand) -> Result<()> {
    match command {
        RecoverCommand::Draft {
            home,
            validators,
            out,
        } => draft(&home, &validators, &out),
        RecoverCommand::Show { file } => {
            let statement = read(&file)?;
            show(&statement);
            Ok(())
        }
        RecoverCommand::Sign { key, file } => {
            let mut statement = read(&file)?;
            let key = keyfile::read(&key)?;
            statement.sign(&key);
            write(&file, &statement, true)?;
            say!(
                "signed by {} ({} signature(s) now)",
                key.public(),
                statement.signatures.len()
            );
            Ok(())
        }
        RecoverCommand::Apply { home, file } => apply(&home, &file),
    }
}

fn draft(home: &Path, validators: &[String], out: &Path) -> Result<()> {
    let config = NodeConfig::load(home)?;
    let (db, chain_id, executed) = hutong_node::node::open_offline(&config)?;
    let consortium = match StateStore::get(&db, &StateKey::Consortium)
        .map_err(|e| anyhow!("reading the consortium record: {e}"))?
    {
        Some(StateValue::Consortium(c)) => c,
        _ => bail!("the node's state has no consortium record"),
    };
    let mut new = Vec::new();
    for v in validators {
        let (name, key, p2p_address) = match v.split_once('=') {
            Some((name, rest)) => {
                let (key, address) = match rest.split_once('@') {
                    Some((key, address)) => (key, Some(address.trim().to_string())),
                    None => (rest, None),
                };
                let key = PublicKey::from_hex(key.trim())
                    .map_err(|e| anyhow!("--validator {v}: node key: {e}"))?;
                (name, Some(key), address)
            }
            None => (v.as_str(), None, None),
        };
        let member = consortium
            .member(name)
            .ok_or_else(|| anyhow!("--validator {v}: no member is named {name:?}"))?;
        new.push(NewValidator {
            member: name.to_string(),
            node_key: key.unwrap_or(member.node_key),
            p2p_address,
        });
    }
    // In the members' order, which is the validators' order.
    new.sort_by_key(|v| consortium.members.iter().position(|m| m.name == v.member));
    let statement = RecoveryStatement {
        plan: RecoveryPlan {
            chain_id,
            epoch: consortium.epoch,
            height: Height(executed.height),
            block_id: Hash(executed.block_id.0),
            state_root: executed.state_root,
            validators: new,
        },
        signatures: Vec::new(),
    };
    // The set is checked now (signatures come later).
    hutong_runtime::recovery::recovered(&db, &statement.plan)
        .map_err(|e| anyhow!("{e} ({})", e.code()))?;
    write(out, &statement, false)?;
    show(&statement);
    say!(
        "\nwritten to {}; each member checks it (`hutong recover show`) and signs it \
         (`hutong recover sign --key <institution key>`): {} of the {} members must sign",
        out.display(),
        signers_needed(consortium.members.len()),
        consortium.members.len()
    );
    Ok(())
}

fn apply(home: &Path, file: &Path) -> Result<()> {
    let statement = read(file)?;
    let config = NodeConfig::load(home)?;
    let (db, chain_id, _) = hutong_node::node::open_offline(&config)?;
    let accepted = hutong_node::recovery::accept(&db, chain_id, &statement)
        .with_context(|| format!("{} refused", file.display()))?;
    db.flush()?;
    match accepted {
        Accepted::Now(m) => say!(
            "accepted: this node starts in epoch {} from height {} with {} validator(s){}",
            m.epoch.0,
            m.genesis_height,
            m.validators.len(),
            match keyfile::read(&config.node_key) {
                Ok(k) if m.index_of(&k.public()).is_some() => ", this node among them",
                _ => "",
            }
        ),
        Accepted::AtHeight { height, executed } => say!(
            "accepted for now: this node is at height {executed}; it syncs to height {height} \
             from the consortium's nodes, checks the statement there (the signers, the block, \
             the state root) and switches to its epoch"
        ),
    }
    Ok(())
}

fn show(s: &RecoveryStatement) {
    let p = &s.plan;
    say!("chain       {}", hex::encode(p.chain_id.0));
    // Shown as `hutong status` counts epochs (the ledger counts from 0).
    let epoch = |ledger: u64| hutong_wire::GENESIS_EPOCH.0.saturating_add(ledger);
    say!(
        "recovers    height {}, where epoch {} lost its quorum",
        p.height.0,
        epoch(p.epoch)
    );
    say!("block       {}", p.block_id);
    say!("state root  {}", p.state_root);
    say!(
        "new epoch   {} with {} validator(s):",
        epoch(p.new_epoch()),
        p.validators.len()
    );
    for v in &p.validators {
        say!(
            "  {:<24} node key {}{}",
            v.member,
            v.node_key,
            v.p2p_address
                .as_deref()
                .map(|a| format!(" at {a}"))
                .unwrap_or_default()
        );
    }
    let digest = p.digest();
    say!("signed by   {} key(s):", s.signatures.len());
    for sig in &s.signatures {
        let ok = sig.key.verify(&digest.0, &sig.signature).is_ok();
        say!(
            "  {} {}",
            sig.key,
            if ok { "valid" } else { "INVALID signature" }
        );
    }
}

/// The statement file: TOML, public, safe to pass around by email.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementDoc {
    chain_id: String,
    /// The ledger's count of validator-set changes (`hutong status` shows
    /// one more).
    ledger_epoch: u64,
    height: u64,
    block_id: String,
    state_root: String,
    #[serde(default, rename = "validator")]
    validators: Vec<ValidatorDoc>,
    #[serde(default, rename = "signature")]
    signatures: Vec<SignatureDoc>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidatorDoc {
    member: String,
    node_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p2p_address: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureDoc {
    key: String,
    signature: String,
}

fn read(path: &Path) -> Result<RecoveryStatement> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > STATEMENT_BYTES_MAX as u64 * 4 {
        bail!(
            "{}: {size} bytes, too large for a recovery statement",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: StatementDoc = toml::from_str(&text).map_err(|e| {
        anyhow!(
            "{}: {}",
            path.display(),
            e.message()
                .lines()
                .next()
                .unwrap_or("not a recovery statement")
        )
    })?;
    let field = |name: &str, e: &dyn std::fmt::Display| anyhow!("{}: {name}: {e}", path.display());
    let hash = |name: &str, hex_text: &str| -> Result<[u8; 32]> {
        Hash::from_hex(hex_text)
            .map(|h| h.0)
            .map_err(|e| field(name, &e))
    };
    let statement = RecoveryStatement {
        plan: RecoveryPlan {
            chain_id: ChainId(hash("chain_id", &doc.chain_id)?),
            epoch: doc.ledger_epoch,
            height: Height(doc.height),
            block_id: Hash(hash("block_id", &doc.block_id)?),
            state_root: Hash(hash("state_root", &doc.state_root)?),
            validators: doc
                .validators
                .iter()
                .map(|v| {
                    Ok(NewValidator {
                        member: v.member.clone(),
                        node_key: PublicKey::from_hex(&v.node_key)
                            .map_err(|e| field(&format!("validator {:?}", v.member), &e))?,
                        p2p_address: v.p2p_address.clone(),
                    })
                })
                .collect::<Result<_>>()?,
        },
        signatures: doc
            .signatures
            .iter()
            .map(|s| {
                Ok(MemberSignature {
                    key: PublicKey::from_hex(&s.key).map_err(|e| field("signature key", &e))?,
                    signature: Signature::from_hex(&s.signature)
                        .map_err(|e| field("signature", &e))?,
                })
            })
            .collect::<Result<_>>()?,
    };
    // The same bounds as any statement from outside.
    RecoveryStatement::decode(&statement.encode())
        .map_err(|e| anyhow!("{}: {e} ({})", path.display(), e.code()))
}

fn write(path: &Path, s: &RecoveryStatement, replace: bool) -> Result<()> {
    let p = &s.plan;
    let doc = StatementDoc {
        chain_id: hex::encode(p.chain_id.0),
        ledger_epoch: p.epoch,
        height: p.height.0,
        block_id: p.block_id.to_hex(),
        state_root: p.state_root.to_hex(),
        validators: p
            .validators
            .iter()
            .map(|v| ValidatorDoc {
                member: v.member.clone(),
                node_key: v.node_key.to_hex(),
                p2p_address: v.p2p_address.clone(),
            })
            .collect(),
        signatures: s
            .signatures
            .iter()
            .map(|s| SignatureDoc {
                key: s.key.to_hex(),
                signature: s.signature.to_hex(),
            })
            .collect(),
    };
    let text = format!(
        "# Hutong recovery statement: members sign it with `hutong recover sign`;\n\
         # nodes take it with `hutong recover apply`. Any edit voids the signatures.\n{}",
        toml::to_string(&doc).map_err(|e| anyhow!("encoding the statement: {e}"))?
    );
    if replace {
        // Written beside, then renamed: a crash leaves the old file whole.
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    } else {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {} (it must not exist)", path.display()))?;
        std::io::Write::write_all(&mut f, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
