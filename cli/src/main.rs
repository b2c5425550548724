//! `hutong`: the command-line tool of the Hutong consortium ledger.

mod audit_cmd;
mod bench;
mod demo;
mod eval_cmd;
mod genesis_cmd;
mod gov_cmd;
mod identity_cmd;
mod node_cmd;
mod out;
mod recover_cmd;
mod tx_cmd;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    /// Create and inspect ed25519 key files and member cards.
    #[command(subcommand)]
    Keys(genesis_cmd::KeysCommand),
    /// The genesis ceremony: assemble a genesis from member cards,
    /// validate and hash it; or make a local test consortium.
    #[command(subcommand)]
    Genesis(genesis_cmd::GenesisCommand),
    /// Run the ledger on a generated demo consortium, in memory: sign
    /// transfers, execute blocks with every risk rule, print receipts and
    /// state roots.
    Demo(demo::DemoArgs),
    /// Make a node's home folder: config.toml, genesis and node key.
    Init(node_cmd::InitArgs),
    /// Run a node (validator, observer or regulator, as its config says)
    /// until SIGINT or SIGTERM.
    Node(node_cmd::NodeArgs),
    /// Fill a new or wiped node's empty database from its peers' state
    /// snapshot (every chunk checked against the state root of a node you
    /// trust), instead of replaying the chain from genesis; then run it
    /// with `hutong node`.
    Join(node_cmd::JoinArgs),
    /// Generate and run a local consortium on loopback: 4 validators and
    /// a regulator as child processes. Ctrl-C stops them all.
    Testnet(node_cmd::TestnetArgs),
    /// Sign a transaction with a key file, submit it, optionally wait for
    /// finality.
    Tx(tx_cmd::TxArgs),
    /// An FX provider signs a quote (pair, rate, bounds, expiry) that one
    /// payment versus payment settles at (`hutong tx pvp --quote`).
    Quote(tx_cmd::QuoteArgs),
    /// Governance by vote: propose, vote, withdraw; list and show
    /// proposals; the consortium's parameters.
    Gov(gov_cmd::GovArgs),
    /// Ask a node about an account, a transaction, a block or itself.
    Query(tx_cmd::QueryArgs),
    /// Measure committed transfers/s and commit latency on a local chain
    /// (1 validator, or 4 and a regulator) that it runs itself.
    Bench(bench::BenchArgs),
    /// The regulator's audit node: history, fund tracing, institution
    /// flows, proofs (and their offline check), risk alerts, reports,
    /// freezes. Requests are signed with the regulator key.
    Audit(audit_cmd::AuditArgs),
    /// Customers' identity tags, obtained from the regulator's node
    /// without showing it the identity (a member institution's tool).
    Identity(identity_cmd::IdentityArgs),
    /// The shared blacklist: list or delist an identity (by its tag's
    /// listing key), or check whether one is listed.
    Blacklist(identity_cmd::BlacklistArgs),
    /// Restart a consortium that lost more than a third of its validators
    /// for good: a statement of the last committed state and the new
    /// validator set, signed by more than two thirds of the members.
    #[command(subcommand)]
    Recover(recover_cmd::RecoverCommand),
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
        Command::Keys(command) => genesis_cmd::keys(command)?,
        Command::Genesis(command) => genesis_cmd::genesis(command)?,
        Command::Demo(args) => demo::run(args)?,
        Command::Init(args) => node_cmd::init(args)?,
        Command::Node(args) => node_cmd::node(args)?,
        Command::Join(args) => node_cmd::join(args)?,
        Command::Testnet(args) => node_cmd::testnet(args)?,
        Command::Tx(args) => tx_cmd::tx(args)?,
        Command::Query(args) => tx_cmd::query(args)?,
        Command::Quote(args) => tx_cmd::quote(args)?,
        Command::Gov(args) => gov_cmd::gov(args)?,
        Command::Bench(args) => bench::bench(args)?,
        Command::Audit(args) => audit_cmd::audit(args)?,
        Command::Identity(args) => identity_cmd::identity(args)?,
        Command::Blacklist(args) => identity_cmd::blacklist(args)?,
        Command::Recover(command) => recover_cmd::recover(command)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks over every subcommand (they would
    /// otherwise fire only when a user runs the broken one).
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
