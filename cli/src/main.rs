//! `hutong`: the command-line tool of the Hutong consortium ledger.

mod audit_cmd;
mod bench;
mod demo;
mod node_cmd;
mod out;
mod tx_cmd;
use crate::out::say;
use hutong_node::keyfile;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use hutong_genesis::template::{generate, TemplateOptions};
use hutong_genesis::Genesis;

#[derive(Parser)]
#[command(
    name = "hutong",
    version,
    about = "Hutong: a permissioned consortium ledger for payments, with a regulator's node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and inspect ed25519 key files.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create, validate and hash genesis documents.
    #[command(subcommand)]
    Genesis(GenesisCommand),
    /// Run the ledger on a generated demo consortium, in memory: sign
    /// transfers, execute blocks with every risk rule, print receipts and
    /// state roots.
    Demo(demo::DemoArgs),
    /// Make a node's home folder: config.toml, genesis and node key.
    Init(node_cmd::InitArgs),
    /// Run a node (validator, observer or regulator, as its config says)
    /// until SIGINT or SIGTERM.
    Node(node_cmd::NodeArgs),
    /// Generate and run a local consortium on loopback: 4 validators and
    /// a regulator as child processes. Ctrl-C stops them all.
    Testnet(node_cmd::TestnetArgs),
    /// Sign a transaction with a key file, submit it, optionally wait for
    /// finality.
    Tx(tx_cmd::TxArgs),
    /// Ask a node about an account, a transaction, a block or itself.
    Query(tx_cmd::QueryArgs),
    /// Measure committed transfers/s and commit latency on a local chain
    /// (1 validator, or 4 and a regulator) that it runs itself.
    Bench(bench::BenchArgs),
    /// The regulator's audit node: history, fund tracing, institution
    /// flows, proofs (and their offline check), risk alerts, reports,
    /// freezes. Requests are signed with the regulator key.
    Audit(audit_cmd::AuditArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a new key and write it to FILE (mode 0600; never overwrites).
    New {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Show a key file's public key, account address and node peer id.
    Show {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum GenesisCommand {
    /// Generate a consortium: genesis.toml and every key, in a new folder.
    New(GenesisNew),
    /// Check a genesis document; print what it defines and its chain id.
    Validate {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the chain id (the hash of the canonical genesis).
    Hash {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Args)]
struct GenesisNew {
    /// Folder to create; it must not exist yet, or be empty.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Validators (4 or more for BFT; 1 makes a development chain).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Non-voting member replicas.
    #[arg(long, default_value_t = 0)]
    observers: usize,
    /// Leave out the regulator.
    #[arg(long)]
    no_regulator: bool,
    /// Demo customer accounts, funded in CNY and HKD.
    #[arg(long, default_value_t = 8)]
    accounts: usize,
    #[arg(long, default_value = "Hutong demo consortium")]
    consortium: String,
    /// Genesis timestamp in milliseconds since the Unix epoch.
    #[arg(long, default_value_t = TemplateOptions::default().genesis_time_ms)]
    genesis_time_ms: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keys(KeysCommand::New { out }) => {
            let key = hutong_runtime::Keypair::generate(&mut rand::rngs::OsRng);
            keyfile::write(&out, &key)?;
            say!("wrote {}\n{}", out.display(), keyfile::describe(&key)?);
        }
        Command::Keys(KeysCommand::Show { file }) => {
            let key = keyfile::read(&file)?;
            say!("{}", keyfile::describe(&key)?);
        }
        Command::Genesis(GenesisCommand::New(args)) => genesis_new(args)?,
        Command::Genesis(GenesisCommand::Validate { file }) => {
            let g = load_genesis(&file)?;
            say!("{}: valid", file.display());
            say!("consortium: {}", g.consortium);
            say!(
                "members:    {} ({} validators{})",
                g.members.len(),
                g.validators().count(),
                if g.dev_chain {
                    ", development chain: no fault tolerance"
                } else {
                    ""
                }
            );
            say!("regulators: {}", g.regulators.len());
            let codes: Vec<&str> = g.assets.iter().map(|a| a.code.as_str()).collect();
            say!("assets:     {}", codes.join(", "));
            say!("tiers:      {}", g.params.tiers.len());
            say!("accounts:   {}", g.accounts.len());
            say!("chain id:   {}", g.chain_id());
        }
        Command::Genesis(GenesisCommand::Hash { file }) => {
            say!("{}", load_genesis(&file)?.chain_id());
        }
        Command::Demo(args) => demo::run(args)?,
        Command::Init(args) => node_cmd::init(args)?,
        Command::Node(args) => node_cmd::node(args)?,
        Command::Testnet(args) => node_cmd::testnet(args)?,
        Command::Tx(args) => tx_cmd::tx(args)?,
        Command::Query(args) => tx_cmd::query(args)?,
        Command::Bench(args) => bench::bench(args)?,
        Command::Audit(args) => audit_cmd::audit(args)?,
    }
    Ok(())
}

pub fn load_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read genesis file {}", path.display()))?;
    Genesis::from_toml(&text).with_context(|| format!("{}", path.display()))
}

fn genesis_new(args: GenesisNew) -> Result<()> {
    if args.validators == 0 {
        bail!("--validators must be at least 1");
    }
    if (2..4).contains(&args.validators) {
        bail!(
            "--validators {}: BFT needs at least 4 (n = 3f + 1); use 1 for a development chain",
            args.validators
        );
    }
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .with_context(|| format!("cannot read {}", args.out.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty; refusing to overwrite a consortium",
            args.out.display()
        );
    }
    let opts = TemplateOptions {
        consortium: args.consortium,
        validators: args.validators,
        observers: args.observers,
        regulator: !args.no_regulator,
        demo_accounts: args.accounts,
        genesis_time_ms: args.genesis_time_ms,
    };
    let generated = generate(&opts, &mut rand::rngs::OsRng);
    // Validate before writing anything, so a bad choice leaves no files.
    let genesis = Genesis::from_doc(&generated.doc)?;
    let keys_dir = args.out.join("keys");
    std::fs::create_dir_all(&keys_dir)
        .with_context(|| format!("cannot create {}", keys_dir.display()))?;
    for named in &generated.keys {
        keyfile::write(&keys_dir.join(format!("{}.key", named.name)), &named.key)?;
    }
    let text = format!(
        "# Hutong genesis. Its chain id is {}.\n# Validate with: hutong genesis validate genesis.toml\n\n{}",
        genesis.chain_id(),
        toml::to_string(&generated.doc).context("encoding genesis")?
    );
    let path = args.out.join("genesis.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    say!(
        "wrote {} and {} keys in {}",
        path.display(),
        generated.keys.len(),
        keys_dir.display()
    );
    say!("chain id: {}", genesis.chain_id());
    Ok(())
}
