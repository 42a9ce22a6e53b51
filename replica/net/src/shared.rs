//! What a replica transport's handle and its tasks share: the links to every other
//! replica and to the connected clients, and the settings they run with. It sits below
//! both the handle (`replica_transport.rs`) and admission (`admission.rs`), which adds
//! connections to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use rampart_crypto::PublicKey;
use tokio::sync::{mpsc, watch};

use super::caps::Caps;
use super::config::{Limits, Timing};
use super::greeting::Greeting;
use super::inbound::Lanes as InboundLanes;
use super::link::LinkContext;
use super::not_admitted::NotAdmittedLog;
use crate::cluster::{ClientAdmission, Cluster};
use crate::message::ReplicaId;

/// The link to one other replica.
#[derive(Debug)]
pub(super) struct ReplicaLink {
    pub(super) queue: mpsc::Sender<Bytes>,
    /// The bulk lane's queue (see [`Lane`](super::link::Lane)).
    pub(super) bulk: mpsc::Sender<Bytes>,
    /// For replicas that dial us (lower ids): where new connections are handed over.
    pub(super) accepted: Option<watch::Sender<Option<quinn::Connection>>>,
}

/// The link to one connected client.
#[derive(Debug)]
pub(super) struct ClientLink {
    pub(super) queue: mpsc::Sender<Bytes>,
    pub(super) connection: quinn::Connection,
}

/// What the transport's handle and its tasks share.
pub(super) struct Shared {
    pub(super) me: ReplicaId,
    pub(super) cluster: Cluster,
    /// Indexed by replica id; `None` for this replica.
    pub(super) replicas: Vec<Option<ReplicaLink>>,
    pub(super) clients: Mutex<HashMap<PublicKey, ClientLink>>,
    pub(super) lanes: InboundLanes,
    pub(super) caps: Arc<Caps>,
    /// Which clients may connect.
    pub(super) admission: ClientAdmission,
    pub(super) not_admitted_log: NotAdmittedLog,
    /// HELLOs: our own, and what we make of our peers' (settings, twins).
    pub(super) greeting: Arc<Greeting>,
    pub(super) limits: Limits,
    pub(super) timing: Timing,
    pub(super) context: LinkContext,
}

impl Shared {
    pub(super) fn lock_clients(&self) -> MutexGuard<'_, HashMap<PublicKey, ClientLink>> {
        // The map stays consistent at every step, so a poisoned lock is still usable.
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("me", &self.me)
            .field("replicas", &self.replicas.len())
            .finish_non_exhaustive()
    }
}
