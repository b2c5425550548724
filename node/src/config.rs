//! The node's configuration: `config.toml` in the node's home folder,
//! validated once at load with errors that name the field and the value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::status::Role;
use hutong_host::host::HostConfig;
use hutong_host::mempool::MempoolConfig;
use hutong_runtime::governance::ConsensusTiming;

/// Most bytes of a config file.
const CONFIG_BYTES_MAX: u64 = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub role: Role,
    /// Paths are relative to the home folder unless absolute.
    pub genesis: PathBuf,
    pub node_key: PathBuf,
    pub data_dir: PathBuf,
    pub p2p: P2pSection,
    pub rpc: RpcSection,
    #[serde(default)]
    pub metrics: Option<MetricsSection>,
    /// The regulator's web dashboard (a regulator node only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<DashboardSection>,
    #[serde(default)]
    pub consensus: ConsensusSection,
    #[serde(default)]
    pub mempool: MempoolSection,
    /// Risk-alert thresholds (a regulator node only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<hutong_audit::AlertConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSection>,
    /// The member institution's memo key (a validator's or observer's
    /// node): with it, the node gives the parties of a payment its sealed
    /// memo in clear (`hutong_readMemo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<MemoSection>,
}

/// `[memo]`: the seed file of the institution's memo key (a key file;
/// `hutong keys memo FILE` prints the public key to publish).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoSection {
    pub key: PathBuf,
}

/// `[dashboard]`: where a regulator's node serves its web dashboard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSection {
    /// `host:port`, e.g. `127.0.0.1:8600` (put a TLS proxy in front to
    /// reach it from elsewhere).
    pub listen: String,
}

/// `[storage]`: how much history this node keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Keep only the last this many blocks (with their transactions,
    /// receipts and certificates); older ones are deleted as the chain
    /// grows. Absent: keep every block. Validators and observers only: a
    /// regulator keeps the whole history. The state and every block's
    /// execution result are always kept; a peer far behind a pruned node
    /// syncs from another, or joins from a snapshot (`hutong join`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_blocks: Option<u64>,
    /// Keep the whole state tree of only the last this many heights: the
    /// tree nodes older versions alone referred to are deleted as the
    /// chain grows (without it the tree keeps every version, and its disk
    /// grows with every block). Absent: keep every version. Validators and
    /// observers only. A node joining from this node's snapshot must
    /// finish before its height falls out of the window (it then asks
    /// another peer, or starts again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_states: Option<u64>,
}

/// The fewest blocks (and states) a pruning node keeps: the recent
/// blocks its lagging peers sync from.
pub const KEEP_BLOCKS_MIN: u64 = 16;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// A libp2p multiaddress, e.g. `/ip4/0.0.0.0/tcp/26600`.
    pub listen: String,
    /// Other nodes to dial, e.g. `/ip4/10.0.0.2/tcp/26600/p2p/12D3…`.
    #[serde(default)]
    pub peers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    /// `host:port` for JSON-RPC over HTTP and WebSocket.
    pub listen: String,
    #[serde(default = "default_rpc_connections")]
    pub connections_max: u32,
    #[serde(default = "default_rpc_request_bytes")]
    pub request_bytes_max: u32,
    /// Connections from one IP address, so that one slow or stuck client
    /// cannot take every slot.
    #[serde(default = "default_rpc_connections_per_ip")]
    pub connections_per_ip_max: u32,
    /// A client must send a request's headers within this time, or the
    /// connection is closed (slow-loris; idle keep-alive connections too).
    #[serde(default = "default_rpc_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// A request, body and answer, must be done within this time.
    #[serde(default = "default_rpc_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

impl RpcSection {
    /// The section with every limit at its default.
    pub fn new(listen: String) -> RpcSection {
        RpcSection {
            listen,
            connections_max: default_rpc_connections(),
            request_bytes_max: default_rpc_request_bytes(),
            connections_per_ip_max: default_rpc_connections_per_ip(),
            header_timeout_ms: default_rpc_header_timeout_ms(),
            request_timeout_ms: default_rpc_request_timeout_ms(),
        }
    }
}

fn default_rpc_connections_per_ip() -> u32 {
    64
}

fn default_rpc_header_timeout_ms() -> u64 {
    10_000
}

fn default_rpc_request_timeout_ms() -> u64 {
    30_000
}

fn default_rpc_connections() -> u32 {
    256
}

fn default_rpc_request_bytes() -> u32 {
    8 * 1024 * 1024
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// `host:port` for the Prometheus endpoint (`GET /metrics`).
    pub listen: String,
}

/// `[consensus]`. The four timing values are the consortium's, voted in
/// its ledger (`hutong gov propose set-timing`); one set here overrides
/// the ledger's on this node only (and the node says so when it starts).
/// `hutong init` writes none of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_timeout_ms: Option<u64>,
    pub block_txs_max: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_block_interval_ms: Option<u64>,
    /// A leader waits until this long after its parent block before
    /// proposing, so that blocks carry batches rather than a few
    /// transactions each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_block_interval_ms: Option<u64>,
    /// A leader whose own executor has more than this many committed
    /// blocks still to execute waits for it (at most
    /// `execution_wait_max_ms`) before proposing: under load, blocks then
    /// grow instead of consensus running ahead with many small ones.
    pub execution_lead_blocks: usize,
    /// At most half of `base_timeout_ms`; by default 400, or half of
    /// `base_timeout_ms` if that is less.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_wait_max_ms: Option<u64>,
}

impl Default for ConsensusSection {
    fn default() -> Self {
        ConsensusSection {
            base_timeout_ms: None,
            max_timeout_ms: None,
            block_txs_max: 5_000,
            empty_block_interval_ms: None,
            min_block_interval_ms: None,
            execution_lead_blocks: 2,
            execution_wait_max_ms: None,
        }
    }
}

impl ConsensusSection {
    /// The timing values this file sets, overriding the ledger's.
    pub fn overrides(&self) -> Vec<(&'static str, u64)> {
        [
            ("base_timeout_ms", self.base_timeout_ms),
            ("max_timeout_ms", self.max_timeout_ms),
            ("empty_block_interval_ms", self.empty_block_interval_ms),
            ("min_block_interval_ms", self.min_block_interval_ms),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }

    /// The consensus core's and the host's settings with `ledger`'s timing
    /// (this file's overrides first), checked together.
    pub fn resolve(
        &self,
        ledger: &ConsensusTiming,
        path: &str,
    ) -> Result<(hutong_consensus::core::Config, HostConfig), ConfigError> {
        let invalid = |field: &'static str, value: u64, problem: String| ConfigError::Invalid {
            path: path.to_string(),
            field,
            value: value.to_string(),
            problem,
        };
        let base = self.base_timeout_ms.unwrap_or(ledger.base_timeout_ms);
        let max = self.max_timeout_ms.unwrap_or(ledger.max_timeout_ms);
        let empty = self
            .empty_block_interval_ms
            .unwrap_or(ledger.empty_block_interval_ms);
        let min_block = self
            .min_block_interval_ms
            .unwrap_or(ledger.min_block_interval_ms);
        if base < 50 || base > max {
            return Err(invalid(
                "consensus.base_timeout_ms",
                base,
                format!("must be at least 50 and at most max_timeout_ms ({max})"),
            ));
        }
        if min_block >= base {
            return Err(invalid(
                "consensus.min_block_interval_ms",
                min_block,
                format!(
                    "must be below consensus.base_timeout_ms ({base}), or leaders would time out waiting"
                ),
            ));
        }
        if self.block_txs_max == 0 || self.block_txs_max > hutong_wire::payload::BLOCK_TXS_MAX {
            return Err(invalid(
                "consensus.block_txs_max",
                self.block_txs_max as u64,
                format!("must be 1 to {}", hutong_wire::payload::BLOCK_TXS_MAX),
            ));
        }
        if empty.saturating_mul(2) > base {
            return Err(invalid(
                "consensus.empty_block_interval_ms",
                empty,
                "must be at most half of base_timeout_ms, or idle rounds time out".into(),
            ));
        }
        let execution_wait_max_ms = match self.execution_wait_max_ms {
            Some(ms) if ms.saturating_mul(2) > base => {
                return Err(invalid(
                    "consensus.execution_wait_max_ms",
                    ms,
                    "must be at most half of base_timeout_ms, or a waiting leader times out".into(),
                ));
            }
            Some(ms) => ms,
            None => (base / 2).min(400),
        };
        Ok((
            hutong_consensus::core::Config {
                base_timeout: Duration::from_millis(base),
                max_timeout: Duration::from_millis(max),
                ..Default::default()
            },
            HostConfig {
                block_txs_max: self.block_txs_max,
                empty_block_interval: Duration::from_millis(empty),
                min_block_interval: Duration::from_millis(min_block),
                execution_lead_blocks: self.execution_lead_blocks,
                execution_wait_max: Duration::from_millis(execution_wait_max_ms),
                ..Default::default()
            },
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolSection {
    pub txs_max: usize,
    pub bytes_max: usize,
    pub per_sender_max: usize,
    pub sequence_window: u64,
    /// How long a validator waits for f + 1 validators' attestations of a
    /// shared batch before checking its signatures itself; 0 trusts no
    /// attestations (every validator checks every signature).
    pub attestation_wait_ms: u64,
}

/// The default of `mempool.attestation_wait_ms`: a few gossip intervals
/// and a loaded co-verifier's check, well inside a round.
pub const ATTESTATION_WAIT_MS: u64 = 300;

impl Default for MempoolSection {
    fn default() -> Self {
        let d = MempoolConfig::default();
        MempoolSection {
            txs_max: d.txs_max,
            bytes_max: d.bytes_max,
            per_sender_max: d.per_sender_max,
            sequence_window: d.sequence_window,
            attestation_wait_ms: ATTESTATION_WAIT_MS,
        }
    }
}

/// A configuration error: which field, what value, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("{path}: {field} = {value:?}: {problem}")]
    Invalid {
        path: String,
        field: &'static str,
        value: String,
        problem: String,
    },
}

/// A loaded, validated configuration with absolute paths.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub home: PathBuf,
    pub role: Role,
    pub genesis: PathBuf,
    pub node_key: PathBuf,
    pub data_dir: PathBuf,
    pub p2p_listen: Multiaddr,
    pub peers: Vec<Multiaddr>,
    pub rpc_listen: SocketAddr,
    pub rpc_connections_max: u32,
    pub rpc_request_bytes_max: u32,
    pub rpc_connections_per_ip_max: u32,
    pub rpc_header_timeout: Duration,
    pub rpc_request_timeout: Duration,
    pub metrics_listen: Option<SocketAddr>,
    /// `[dashboard] listen` (a regulator only).
    pub dashboard_listen: Option<SocketAddr>,
    /// With the default timing; [`NodeConfig::resolve_timing`] gives them
    /// with the ledger's.
    pub consensus: hutong_consensus::core::Config,
    pub host: HostConfig,
    /// `[consensus]` as written, to resolve again when the ledger's timing
    /// changes.
    pub consensus_section: ConsensusSection,
    /// Where the config was read from (for messages).
    pub path: String,
    pub mempool: MempoolConfig,
    /// `mempool.attestation_wait_ms`; `None` when 0.
    pub attestation_wait: Option<Duration>,
    /// `[memo] key`, made absolute.
    pub memo_key: Option<PathBuf>,
    /// `[storage] keep_blocks`: `None` keeps every block.
    pub keep_blocks: Option<u64>,
    /// `[storage] keep_states`: `None` keeps every version of the state.
    pub keep_states: Option<u64>,
    pub audit: hutong_audit::AlertConfig,
}

impl NodeConfig {
    /// The consensus core's and host's settings with the ledger's timing.
    pub fn resolve_timing(
        &self,
        ledger: &ConsensusTiming,
    ) -> Result<(hutong_consensus::core::Config, HostConfig), ConfigError> {
        self.consensus_section.resolve(ledger, &self.path)
    }

    /// The consortium's genesis file this config names, read and checked.
    pub fn read_genesis(&self) -> anyhow::Result<hutong_genesis::Genesis> {
        use anyhow::Context as _;
        let text = std::fs::read_to_string(&self.genesis)
            .with_context(|| format!("cannot read genesis {}", self.genesis.display()))?;
        hutong_genesis::Genesis::from_toml(&text)
            .with_context(|| format!("{}", self.genesis.display()))
    }

    pub fn path_in(home: &Path) -> PathBuf {
        home.join("config.toml")
    }

    /// Reads and validates `home/config.toml`.
    pub fn load(home: &Path) -> Result<NodeConfig, ConfigError> {
        let path = Self::path_in(home);
        let shown = path.display().to_string();
        let read_err = |e: std::io::Error| ConfigError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        };
        let size = std::fs::metadata(&path).map_err(read_err)?.len();
        if size > CONFIG_BYTES_MAX {
            return Err(ConfigError::Read {
                path: shown,
                reason: format!("{size} bytes; a config file is at most {CONFIG_BYTES_MAX}"),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(read_err)?;
        Self::parse(home, &shown, &text)
    }

    /// Parses and validates the text of a config file; `home` resolves its
    /// relative paths and `shown` names it in errors. Reads no files.
    pub fn parse(home: &Path, shown: &str, text: &str) -> Result<NodeConfig, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: shown.to_string(),
            reason: e.to_string(),
        })?;
        Self::from_file(home, shown, file)
    }

    pub fn from_file(
        home: &Path,
        shown: &str,
        file: ConfigFile,
    ) -> Result<NodeConfig, ConfigError> {
        let invalid = |field: &'static str, value: &str, problem: String| ConfigError::Invalid {
            path: shown.to_string(),
            field,
            value: value.to_string(),
            problem,
        };
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                home.join(p)
            }
        };
        let p2p_listen: Multiaddr = file.p2p.listen.parse().map_err(|e| {
            invalid(
                "p2p.listen",
                &file.p2p.listen,
                format!("not a multiaddress: {e}"),
            )
        })?;
        let mut peers = Vec::new();
        for peer in &file.p2p.peers {
            peers.push(
                peer.parse()
                    .map_err(|e| invalid("p2p.peers", peer, format!("not a multiaddress: {e}")))?,
            );
        }
        let rpc_listen: SocketAddr = file.rpc.listen.parse().map_err(|e| {
            invalid(
                "rpc.listen",
                &file.rpc.listen,
                format!("not host:port: {e}"),
            )
        })?;
        let metrics_listen = match &file.metrics {
            Some(m) => Some(m.listen.parse().map_err(|e| {
                invalid("metrics.listen", &m.listen, format!("not host:port: {e}"))
            })?),
            None => None,
        };
        let dashboard_listen = match &file.dashboard {
            Some(d) if file.role != Role::Regulator => {
                return Err(invalid(
                    "dashboard.listen",
                    &d.listen,
                    "only a regulator's node serves the dashboard; remove the section".into(),
                ))
            }
            Some(d) => Some(d.listen.parse().map_err(|e| {
                invalid("dashboard.listen", &d.listen, format!("not host:port: {e}"))
            })?),
            None => None,
        };
        // Checked here with the default timing, so that a bad value is
        // refused at once; the node resolves it again with the ledger's.
        let (consensus, host) = file.consensus.resolve(&ConsensusTiming::default(), shown)?;
        let m = &file.mempool;
        if m.txs_max == 0 || m.per_sender_max == 0 || m.sequence_window == 0 {
            return Err(invalid(
                "mempool",
                &format!("{m:?}"),
                "every bound must be at least 1".into(),
            ));
        }
        let keep_blocks = file.storage.as_ref().and_then(|s| s.keep_blocks);
        let keep_states = file.storage.as_ref().and_then(|s| s.keep_states);
        for (field, keep) in [
            ("storage.keep_blocks", keep_blocks),
            ("storage.keep_states", keep_states),
        ] {
            let Some(keep) = keep else { continue };
            if file.role == Role::Regulator {
                return Err(invalid(
                    field,
                    &keep.to_string(),
                    "a regulator keeps every block and state (its audit history and proofs must \
                     be complete); remove the setting"
                        .into(),
                ));
            }
            if keep < KEEP_BLOCKS_MIN {
                return Err(invalid(
                    field,
                    &keep.to_string(),
                    format!("must be at least {KEEP_BLOCKS_MIN}"),
                ));
            }
        }
        let mut audit = file.audit.clone().unwrap_or_default();
        audit.anchor_key = audit.anchor_key.as_deref().map(abs);
        audit.identity_key = audit.identity_key.as_deref().map(abs);
        audit
            .check()
            .map_err(|problem| invalid("audit", &format!("{audit:?}"), problem))?;
        Ok(NodeConfig {
            memo_key: file.memo.as_ref().map(|m| abs(&m.key)),
            audit,
            home: home.to_path_buf(),
            role: file.role,
            genesis: abs(&file.genesis),
            node_key: abs(&file.node_key),
            data_dir: abs(&file.data_dir),
            p2p_listen,
            peers,
            rpc_listen,
            rpc_connections_max: file.rpc.connections_max.max(1),
            rpc_request_bytes_max: file.rpc.request_bytes_max.max(1024),
            rpc_connections_per_ip_max: file
                .rpc
                .connections_per_ip_max
                .clamp(1, file.rpc.connections_max.max(1)),
            rpc_header_timeout: Duration::from_millis(file.rpc.header_timeout_ms.max(100)),
            rpc_request_timeout: Duration::from_millis(file.rpc.request_timeout_ms.max(100)),
            metrics_listen,
            dashboard_listen,
            consensus,
            host,
            consensus_section: file.consensus.clone(),
            path: shown.to_string(),
            mempool: MempoolConfig {
                txs_max: m.txs_max,
                bytes_max: m.bytes_max,
                per_sender_max: m.per_sender_max,
                sequence_window: m.sequence_window,
            },
            attestation_wait: (m.attestation_wait_ms > 0)
                .then(|| Duration::from_millis(m.attestation_wait_ms)),
            keep_blocks,
            keep_states,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(consensus: &str) -> Result<NodeConfig, ConfigError> {
        let text = format!(
            "role = \"validator\"\ngenesis = \"genesis.toml\"\nnode_key = \"node.key\"\n\
             data_dir = \"data\"\n[p2p]\nlisten = \"/ip4/127.0.0.1/tcp/1\"\npeers = []\n\
             [rpc]\nlisten = \"127.0.0.1:2\"\n[consensus]\n{consensus}\n"
        );
        NodeConfig::parse(Path::new("/home"), "config.toml", &text)
    }

    #[test]
    fn a_leader_waits_for_execution_at_most_half_a_round_timeout() {
        let c = parse("").unwrap();
        assert_eq!(c.host.execution_lead_blocks, 2);
        assert_eq!(c.host.execution_wait_max, Duration::from_millis(400));
        // Unset, the wait follows a shorter round timeout down.
        let c = parse("base_timeout_ms = 500\nempty_block_interval_ms = 200").unwrap();
        assert_eq!(c.host.execution_wait_max, Duration::from_millis(250));
        let c = parse("execution_wait_max_ms = 100\nexecution_lead_blocks = 8").unwrap();
        assert_eq!(c.host.execution_wait_max, Duration::from_millis(100));
        assert_eq!(c.host.execution_lead_blocks, 8);
        let err = parse(
            "base_timeout_ms = 500\nempty_block_interval_ms = 200\nexecution_wait_max_ms = 300",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("consensus.execution_wait_max_ms"),
            "{err}"
        );
    }

    #[test]
    fn timing_is_the_ledgers_unless_this_file_overrides_it() {
        let ledger = ConsensusTiming {
            base_timeout_ms: 2_000,
            max_timeout_ms: 20_000,
            min_block_interval_ms: 100,
            empty_block_interval_ms: 800,
        };
        let c = parse("").unwrap();
        assert!(c.consensus_section.overrides().is_empty());
        let (core, host) = c.resolve_timing(&ledger).unwrap();
        assert_eq!(core.base_timeout, Duration::from_millis(2_000));
        assert_eq!(core.max_timeout, Duration::from_millis(20_000));
        assert_eq!(host.min_block_interval, Duration::from_millis(100));
        assert_eq!(host.empty_block_interval, Duration::from_millis(800));
        let c = parse("base_timeout_ms = 3000").unwrap();
        assert_eq!(
            c.consensus_section.overrides(),
            vec![("base_timeout_ms", 3_000)]
        );
        let (core, _) = c.resolve_timing(&ledger).unwrap();
        assert_eq!(core.base_timeout, Duration::from_millis(3_000));
        // An override that does not fit the ledger's other values is
        // refused with the field.
        let c = parse("base_timeout_ms = 1000").unwrap();
        let err = c.resolve_timing(&ledger).unwrap_err();
        assert!(err.to_string().contains("empty_block_interval_ms"), "{err}");
        // `hutong init` writes no timing: the ledger's rules.
        let written = toml::to_string(&ConsensusSection::default()).unwrap();
        assert!(!written.contains("timeout"), "{written}");
        assert!(!written.contains("interval"), "{written}");
    }

    #[test]
    fn a_huge_interval_is_refused_not_overflowed() {
        let err = parse(&format!("empty_block_interval_ms = {}", u64::MAX)).unwrap_err();
        assert!(err.to_string().contains("empty_block_interval_ms"), "{err}");
        let err = parse(&format!("execution_wait_max_ms = {}", u64::MAX)).unwrap_err();
        assert!(err.to_string().contains("execution_wait_max_ms"), "{err}");
    }
}
