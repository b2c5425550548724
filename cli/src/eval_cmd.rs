//! `hutong audit eval`: the detectors measured on a labelled synthetic
//! chain (ordinary payments with planted laundering patterns), so that a
//! regulator tunes its `[audit]` thresholds against figures, not hunches.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use hutong_audit::eval::evaluate;
use hutong_audit::scenario::{generate, ScenarioConfig};
use hutong_audit::AlertConfig;

use crate::out::say;

#[derive(Args)]
pub struct EvalArgs {
    /// The scenario's seed (printed; the same seed gives the same chain).
    #[arg(long)]
    seed: Option<u64>,
    /// Ordinary customers.
    #[arg(long, default_value_t = 10_000)]
    customers: usize,
    /// Merchants (hubs paid by many customers every day).
    #[arg(long, default_value_t = 100)]
    merchants: usize,
    #[arg(long, default_value_t = 4)]
    institutions: usize,
    /// Days evaluated (after the warm-up).
    #[arg(long, default_value_t = 2)]
    days: u32,
    /// Days of ordinary payments first, for the detectors to learn each
    /// account's normal day (their alerts are not counted).
    #[arg(long, default_value_t = 7)]
    warmup_days: u32,
    /// Instances of each planted pattern.
    #[arg(long, default_value_t = 20)]
    plants: usize,
    /// A node config whose `[audit]` section to evaluate (default: the
    /// defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Exit with an error unless recall is at least 0.95 on every pattern
    /// and false alerts at most 1 per 10,000 accounts per day.
    #[arg(long)]
    check: bool,
}

/// The `[audit]` section of a node config file, if it has one.
#[derive(serde::Deserialize)]
struct ConfigFile {
    #[serde(default)]
    audit: Option<AlertConfig>,
}

pub fn eval(args: EvalArgs) -> Result<()> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            // Only the [audit] section matters here; the rest is the node's.
            let value: toml::Value =
                toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
            let section = value.get("audit").cloned();
            let file: ConfigFile = toml::Value::Table(
                section
                    .map(|s| [("audit".to_string(), s)].into_iter().collect())
                    .unwrap_or_default(),
            )
            .try_into()
            .with_context(|| format!("{}: the [audit] section", path.display()))?;
            file.audit.unwrap_or_default()
        }
        None => AlertConfig::default(),
    };
    config.check().map_err(|e| anyhow::anyhow!(e))?;
    let scenario_config = ScenarioConfig {
        seed,
        customers: args.customers,
        merchants: args.merchants,
        institutions: args.institutions,
        days: args.days,
        warmup_days: args.warmup_days,
        plants_per_pattern: args.plants,
    };
    eprintln!(
        "seed {seed}: generating {} customers, {} merchants at {} institutions, {} days of warm-up and {} evaluated, {} plants per pattern",
        args.customers, args.merchants, args.institutions, args.warmup_days, args.days, args.plants
    );
    let started = std::time::Instant::now();
    let scenario = generate(&scenario_config);
    let generated = started.elapsed();
    let started = std::time::Instant::now();
    let report = evaluate(&scenario, config).map_err(|e| anyhow::anyhow!(e))?;
    let detected = started.elapsed();
    eprintln!(
        "{} legs generated in {:.1} s; the detectors took {:.1} s ({:.0} legs/s)",
        scenario.edges.len(),
        generated.as_secs_f64(),
        detected.as_secs_f64(),
        scenario.edges.len() as f64 / detected.as_secs_f64().max(1e-9)
    );
    if args.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        say!("{report}");
    }
    if args.check && !report.targets_met() {
        bail!("the detectors miss their targets on seed {seed}");
    }
    Ok(())
}
