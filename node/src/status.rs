//! What a running node says about itself — its role, the consensus core's
//! view, its peers, its counters, and why it halted if it did — written
//! by the tasks that know and read by the JSON-RPC `status` method and
//! the metrics endpoint.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use hutong_host::status::{ConsensusStatus, Counters, RecentRejections};
use hutong_host::util::lock;
pub use hutong_wire::rpc::PeerStatus;

/// What a node does in the consortium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Validator,
    Observer,
    Regulator,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Validator => "validator",
            Role::Observer => "observer",
            Role::Regulator => "regulator",
        }
    }
}

/// Set when this node's execution disagrees with a certified result or
/// its storage failed: the node stops executing and says why on every
/// status query.
#[derive(Debug, Clone, Default)]
pub struct Halt(Arc<Mutex<Option<String>>>);

impl Halt {
    /// Records the first reason (later ones are consequences).
    pub fn halt(&self, why: &str) {
        let mut halted = lock(&self.0);
        if halted.is_none() {
            *halted = Some(why.to_string());
        }
    }

    pub fn reason(&self) -> Option<String> {
        lock(&self.0).clone()
    }
}

/// The node's self-description, as a handle the RPC and metrics tasks
/// read.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    pub role: Role,
    /// Validators in the current epoch.
    pub validators: usize,
    pub consensus: Arc<Mutex<ConsensusStatus>>,
    pub peers: Arc<Mutex<PeerStatus>>,
    pub counters: Arc<Counters>,
    pub halt: Halt,
    /// `[storage] keep_blocks`.
    pub keep_blocks: Option<u64>,
    /// `[storage] keep_states`.
    pub keep_states: Option<u64>,
}
