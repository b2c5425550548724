//! `hutong keys …` and `hutong genesis …`: keys, member cards, and the
//! genesis ceremony in which no member sees another's private key.
//!
//! 1. Each member, on its own machine: `hutong keys new` twice (the
//!    institution key and the node key), then `hutong keys card`, and
//!    sends the card (public keys only) to the coordinator.
//! 2. The coordinator: `hutong genesis assemble --card … --out genesis.toml`
//!    and sends genesis.toml to every member.
//! 3. Each member: `hutong genesis validate genesis.toml --card own.card`
//!    (its card is listed exactly) and compares `hutong genesis hash` with
//!    the others over a second channel; then `hutong init` and
//!    `hutong node`. The chain starts when a quorum of validators runs.
//!
//! `hutong genesis new` makes every key on one machine: for local
//! testnets only.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use hutong_genesis::assemble::{check_listed, AssemblyTemplate};
use hutong_genesis::card::{Card, CardDoc, CardRole, CARD_BYTES_MAX};
use hutong_genesis::template::{generate, TemplateOptions};
use hutong_genesis::Genesis;
use hutong_node::keyfile;
use hutong_node::network::{dial_address, peer_id_of};

use crate::out::say;

#[derive(Subcommand)]
pub enum KeysCommand {
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
    /// Show the public identity keys of a regulator's identity seed file
    /// (made with `hutong keys new`), as genesis lists them under
    /// `[regulators.identity]`; the file stays on the regulator's node
    /// (`[audit] identity_key`).
    Identity {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Show the memo key (X25519) of an institution's memo seed file, as
    /// genesis lists it (`memo_key`) or `hutong tx set-memo-key` publishes
    /// it; the file stays on the institution's node (`[memo] key`).
    Memo {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Make this member's card for the genesis ceremony: name, role,
    /// public keys and p2p address, signed by the institution key and the
    /// node key. The card holds no secret; send it to the coordinator.
    Card(CardArgs),
    /// Check a member card's signatures and show what it asks for.
    ShowCard {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Args)]
pub struct CardArgs {
    /// The member's short name in genesis (a-z, 0-9, '-', '_').
    #[arg(long)]
    name: String,
    /// validator, observer or regulator.
    #[arg(long)]
    role: String,
    /// The institution's key file (for a regulator: the regulator key,
    /// which signs freezes and audit requests).
    #[arg(long, value_name = "FILE")]
    institution_key: PathBuf,
    /// The node's key file.
    #[arg(long, value_name = "FILE")]
    node_key: PathBuf,
    /// Where the node will listen for its peers, as they should dial it:
    /// /ip4/10.0.0.1/tcp/26600 or /dns4/node.bank-a.example/tcp/26600.
    #[arg(long, value_name = "MULTIADDR")]
    p2p: Option<String>,
    /// A member's memo seed file (made with `hutong keys new`, kept by its
    /// node as `[memo] key`): its public memo key goes on the card.
    #[arg(long, value_name = "FILE")]
    memo_key: Option<PathBuf>,
    /// A regulator's identity seed file (kept by its node as `[audit]
    /// identity_key`): the identity service's public keys go on the card.
    #[arg(long, value_name = "FILE")]
    identity_key: Option<PathBuf>,
    /// The card file to write (never overwrites).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Subcommand)]
pub enum GenesisCommand {
    /// Generate a LOCAL TEST consortium: genesis.toml and every member's
    /// private keys, all on this machine. For testnets only; a real
    /// consortium forms with `hutong keys card` and `hutong genesis
    /// assemble`, so that no one sees another member's keys.
    New(GenesisNew),
    /// Assemble a genesis from member cards (in the order given, which is
    /// the validators' order) and a template or flags for the assets, risk
    /// tiers and balances.
    Assemble(AssembleArgs),
    /// Check a genesis document; print what it defines and its chain id.
    /// With --card, also check that it lists each card exactly.
    Validate {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// A member card to find in the genesis; repeat for each.
        #[arg(long = "card", value_name = "CARD")]
        cards: Vec<PathBuf>,
    },
    /// Print the chain id (the hash of the canonical genesis).
    Hash {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Args)]
pub struct GenesisNew {
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

#[derive(Args)]
pub struct AssembleArgs {
    /// A member card (`hutong keys card`); repeat for each member and
    /// regulator.
    #[arg(long = "card", value_name = "CARD", required = true)]
    cards: Vec<PathBuf>,
    /// A TOML template for everything but the members: consortium,
    /// utc_offset, genesis_time_ms, [[assets]], [[tiers]], [[accounts]],
    /// [balances.MEMBER]. Flags below add to it or override it.
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    #[arg(long)]
    consortium: Option<String>,
    /// The consortium's time zone (daily limits reset at its midnight).
    #[arg(long, value_name = "+HH:MM")]
    utc_offset: Option<String>,
    /// The timestamp of block 0 (default: now).
    #[arg(long)]
    genesis_time_ms: Option<u64>,
    /// CODE:DECIMALS:ISSUER, e.g. CNY:2:bank-a; repeat for each asset.
    #[arg(long = "asset", value_name = "SPEC")]
    assets: Vec<String>,
    /// TIER:NAME:ASSET:SINGLE_MAX:DAILY_MAX[:STEP_UP] in minor units, e.g.
    /// 2:verified:CNY:5000000:20000000:1000000; repeat per tier and asset.
    #[arg(long = "tier", value_name = "SPEC")]
    tiers: Vec<String>,
    /// MEMBER:ASSET:AMOUNT: the member's own account starts with AMOUNT
    /// minor units of ASSET; repeat as needed.
    #[arg(long = "balance", value_name = "SPEC")]
    balances: Vec<String>,
    /// The genesis file to write (never overwrites).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn keys(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::New { out } => {
            let key = hutong_runtime::Keypair::generate(&mut rand::rngs::OsRng);
            keyfile::write(&out, &key)?;
            say!("wrote {}\n{}", out.display(), keyfile::describe(&key)?);
        }
        KeysCommand::Show { file } => {
            let key = keyfile::read(&file)?;
            say!("{}", keyfile::describe(&key)?);
        }
        KeysCommand::Identity { file } => {
            let seed = keyfile::read(&file)?;
            let public =
                hutong_privacy::keys::IdentityKeys::from_seed(&seed.secret_bytes())?.public();
            say!("[regulators.identity]");
            say!("oprf_key = \"{}\"", hex::encode(public.oprf));
            say!("hpke_key = \"{}\"", hex::encode(public.hpke));
        }
        KeysCommand::Memo { file } => {
            let seed = keyfile::read(&file)?;
            say!(
                "memo_key = \"{}\"",
                hex::encode(hutong_privacy::keys::memo_key(&seed.secret_bytes()).public_key())
            );
        }
        KeysCommand::Card(args) => make_card(args)?,
        KeysCommand::ShowCard { file } => {
            let card = read_card(&file)?;
            say!("{}: signatures verify", file.display());
            describe_card(&card)?;
        }
    }
    Ok(())
}

pub fn genesis(command: GenesisCommand) -> Result<()> {
    match command {
        GenesisCommand::New(args) => genesis_new(args),
        GenesisCommand::Assemble(args) => assemble(args),
        GenesisCommand::Validate { file, cards } => validate(&file, &cards),
        GenesisCommand::Hash { file } => {
            say!("{}", load_genesis(&file)?.chain_id());
            Ok(())
        }
    }
}

pub fn load_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read genesis file {}", path.display()))?;
    Genesis::from_toml(&text).with_context(|| format!("{}", path.display()))
}

fn parse_card_role(role: &str) -> Result<CardRole> {
    match role {
        "validator" => Ok(CardRole::Validator),
        "observer" => Ok(CardRole::Observer),
        "regulator" => Ok(CardRole::Regulator),
        other => bail!("--role {other:?}: expected validator, observer or regulator"),
    }
}

fn make_card(args: CardArgs) -> Result<()> {
    let role = parse_card_role(&args.role)?;
    let institution = keyfile::read(&args.institution_key)?;
    let node = keyfile::read(&args.node_key)?;
    if let Some(hint) = &args.p2p {
        dial_address(hint, &node.public()).map_err(|e| anyhow::anyhow!("--p2p {e}"))?;
    }
    let extras = hutong_genesis::card::CardExtras {
        memo_key: match &args.memo_key {
            Some(path) => Some(
                hutong_privacy::keys::memo_key(&keyfile::read(path)?.secret_bytes()).public_key(),
            ),
            None => None,
        },
        identity: match &args.identity_key {
            Some(path) => {
                let keys = hutong_privacy::keys::IdentityKeys::from_seed(
                    &keyfile::read(path)?.secret_bytes(),
                )?
                .public();
                Some(hutong_runtime::state::IdentityParams {
                    oprf_key: keys.oprf,
                    hpke_key: keys.hpke,
                })
            }
            None => None,
        },
    };
    let doc = Card::sign_with(&args.name, role, &institution, &node, args.p2p, extras)?;
    let text = doc.to_toml();
    write_new(&args.out, &text)?;
    let card = doc.verify(&args.out.display().to_string())?;
    say!(
        "wrote {} (public keys only; send it to the coordinator)",
        args.out.display()
    );
    describe_card(&card)
}

pub(crate) fn read_card(path: &Path) -> Result<Card> {
    let label = path.display().to_string();
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read card {label}"))?
        .len();
    if size > CARD_BYTES_MAX as u64 {
        bail!("{label}: {size} bytes; a member card is at most {CARD_BYTES_MAX}");
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read card {label}"))?;
    let card = CardDoc::from_toml(&label, &text)?.verify(&label)?;
    if let Some(hint) = &card.p2p_address {
        dial_address(hint, &card.node_key)
            .map_err(|e| anyhow::anyhow!("{label}: field `p2p_address`: {e}"))?;
    }
    Ok(card)
}

fn describe_card(card: &Card) -> Result<()> {
    say!("name:            {}", card.name);
    say!("role:            {}", card.role.name());
    say!("institution key: {}", card.institution_key);
    say!("node key:        {}", card.node_key);
    say!(
        "node peer id:    {}",
        peer_id_of(&card.node_key).map_err(anyhow::Error::msg)?
    );
    say!(
        "p2p address:     {}",
        card.p2p_address
            .as_deref()
            .unwrap_or("(none: peers cannot dial it from genesis)")
    );
    Ok(())
}

/// Writes a new file; refuses to replace one.
fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} already exists; refusing to overwrite it",
                    path.display()
                )
            } else {
                anyhow::anyhow!("cannot create {}: {e}", path.display())
            }
        })?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn assemble(args: AssembleArgs) -> Result<()> {
    let mut template = match &args.template {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read template {}", path.display()))?;
            AssemblyTemplate::from_toml(&text).with_context(|| path.display().to_string())?
        }
        None => AssemblyTemplate::default(),
    };
    if args.consortium.is_some() {
        template.consortium = args.consortium;
    }
    if args.utc_offset.is_some() {
        template.utc_offset = args.utc_offset;
    }
    if args.genesis_time_ms.is_some() {
        template.genesis_time_ms = args.genesis_time_ms;
    }
    if template.genesis_time_ms.is_none() {
        template.genesis_time_ms = Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the clock is before 1970")?
                .as_millis() as u64,
        );
    }
    for spec in &args.assets {
        template.add_asset_flag(spec)?;
    }
    for spec in &args.tiers {
        template.add_tier_flag(spec)?;
    }
    for spec in &args.balances {
        template.add_balance_flag(spec)?;
    }
    let cards = args
        .cards
        .iter()
        .map(|path| Ok((path.display().to_string(), read_card(path)?)))
        .collect::<Result<Vec<_>>>()?;
    let doc = template.assemble(&cards)?;
    // Validated before anything is written.
    let genesis = Genesis::from_doc(&doc).context("the assembled genesis is not valid")?;
    let text = format!(
        "# Hutong genesis, assembled from {} member cards. Chain id {}.\n\
         # Each member checks it: hutong genesis validate genesis.toml --card OWN.card\n\n{}",
        cards.len(),
        genesis.chain_id(),
        toml::to_string(&doc).context("encoding genesis")?
    );
    write_new(&args.out, &text)?;
    say!("wrote {}", args.out.display());
    summary(&genesis);
    say!(
        "send it to every member; each checks it with `hutong genesis validate {} --card OWN.card`",
        args.out.display()
    );
    Ok(())
}

fn summary(g: &Genesis) {
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
    for m in &g.members {
        say!(
            "  {:<16} {:<9} {}",
            m.name,
            match m.role {
                hutong_genesis::MemberRole::Validator => "validator",
                hutong_genesis::MemberRole::Observer => "observer",
            },
            m.p2p_address.as_deref().unwrap_or("-")
        );
    }
    say!("regulators: {}", g.regulators.len());
    for r in &g.regulators {
        say!(
            "  {:<16} {:<9} {}",
            r.name,
            "regulator",
            r.p2p_address.as_deref().unwrap_or("-")
        );
    }
    let codes: Vec<&str> = g.assets.iter().map(|a| a.code.as_str()).collect();
    say!("assets:     {}", codes.join(", "));
    say!("tiers:      {}", g.params.tiers.len());
    say!("accounts:   {}", g.accounts.len());
    say!("chain id:   {}", g.chain_id());
}

fn validate(file: &Path, cards: &[PathBuf]) -> Result<()> {
    let g = load_genesis(file)?;
    // Address hints are dialed by `hutong init`; check them as it will.
    for m in &g.members {
        if let Some(hint) = &m.p2p_address {
            dial_address(hint, &m.node_key)
                .map_err(|e| anyhow::anyhow!("{}: member {}: {e}", file.display(), m.name))?;
        }
    }
    for r in &g.regulators {
        if let Some(hint) = &r.p2p_address {
            dial_address(hint, &r.node_key)
                .map_err(|e| anyhow::anyhow!("{}: regulator {}: {e}", file.display(), r.name))?;
        }
    }
    for path in cards {
        let card = read_card(path)?;
        let at = check_listed(&g, &card).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        say!(
            "{}: listed exactly as signed, at {at} ({})",
            path.display(),
            card.role.name()
        );
    }
    say!("{}: valid", file.display());
    summary(&g);
    Ok(())
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
        "# Hutong genesis for a LOCAL TEST consortium: every member's key was made\n\
         # on one machine. Its chain id is {}.\n\
         # Validate with: hutong genesis validate genesis.toml\n\n{}",
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
    say!(
        "note: every member's private key is in {}: fine for a local testnet, never for a \
         real consortium (there, each member runs `hutong keys card` and a coordinator \
         `hutong genesis assemble`)",
        keys_dir.display()
    );
    Ok(())
}
