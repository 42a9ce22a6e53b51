//! A simulated machine running one replica: the production shell
//! ([`rampart_replica::shell::Shell`]) over simulated ports.
//!
//! Nothing of the replica's behaviour is re-implemented here. The shell carries out the
//! core's actions exactly as in a replica process; what differs is only what it runs on:
//!
//! - **storage**: the real [`Store`] on a [`MemoryDisk`], which a crash may damage (see
//!   [`StorageFaults`]): unsynced writes lost, the last write torn, a record corrupted;
//! - **network**: frames leave as encoded bytes, length-prefixed by the transport's own
//!   framing, and arrive through the same unframing, decoding and verification
//!   ([`Checker`]) as on a real replica;
//! - **signatures**: unforgeable tags or real ed25519, behind the same traits;
//! - **time**: a tick of the simulated clock is a [`Shell::round`] with `tick`.
//!
//! A crash drops the shell and keeps the disk; a restart opens the store on it and
//! rebuilds the shell with [`Shell::recover`], as a process restart does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rampart_crypto::{Digest, PublicKey, Signer, Verifier};
use rampart_replica::app::StateMachine;
use rampart_replica::core::{Config, Replica};
use rampart_replica::message::{ClientId, ReplicaId, Seq};
use rampart_replica::net::frame::{framed, unframed};
use rampart_replica::net::{Inbound, Lane, SendError};
use rampart_replica::shell::{Checker, Network, NodeStatus, Ports, Shell, ShellEvent};
use rampart_replica::store::disk::{Disk, DiskError, DiskFault, MemoryDisk, Visitor, WriteBatch};
use rampart_replica::store::{Store, StoreError, StoreIdentity, StoreOptions};
use rampart_replica::transfer::TransferStats;

use crate::byzantine::Behaviour;
use crate::network::{Envelope, Node, Packet};

/// Something a checker wants to know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Executed {
        replica: ReplicaId,
        node: Node,
        seq: Seq,
        digest: Digest,
    },
    Checkpoint {
        replica: ReplicaId,
        node: Node,
        seq: Seq,
        state_digest: Digest,
    },
}

/// Where a simulated replica puts what it sends and what the checkers should see.
#[derive(Debug)]
pub struct Effects<'a> {
    pub now: u64,
    pub outgoing: &'a mut Vec<Envelope>,
    pub events: &'a mut Vec<Event>,
}

/// Makes the application, in its genesis state, at every start.
pub type AppFactory = Arc<dyn Fn() -> Box<dyn StateMachine> + Send + Sync>;

/// What a crash may do to a replica's disk; see [`MemoryDisk::crash`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StorageFaults {
    /// Every write is synced and survives: a correct replica's disk.
    #[default]
    None,
    /// Writes are not synced (a crash loses a seeded tail of them), and at a crash the last
    /// write may be torn or a record corrupted. The replica may then have forgotten what
    /// it sent: it counts among the f faulty replicas.
    Faulty,
}

/// The disk, shared between the store of the running shell and the simulated machine
/// that outlives it.
#[derive(Clone, Debug, Default)]
struct SharedDisk(Arc<Mutex<MemoryDisk>>);

impl SharedDisk {
    fn lock(&self) -> MutexGuard<'_, MemoryDisk> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Disk for SharedDisk {
    fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, DiskError> {
        self.lock().get(cf, key)
    }

    fn write(&mut self, batch: WriteBatch, sync: bool) -> Result<(), DiskError> {
        self.lock().write(batch, sync)
    }

    fn scan(
        &self,
        cf: &'static str,
        from: &[u8],
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        self.lock().scan(cf, from, visit)
    }

    fn last_key(&self, cf: &'static str) -> Result<Option<Vec<u8>>, DiskError> {
        self.lock().last_key(cf)
    }

    fn usage_bytes(&self) -> Result<u64, DiskError> {
        self.lock().usage_bytes()
    }

    fn compact(&self) -> Result<(), DiskError> {
        self.lock().compact()
    }
}

/// Where a frame goes.
#[derive(Clone, Debug)]
enum Destination {
    Replica(ReplicaId),
    Client(PublicKey),
}

/// The network port: frames wait here until the simulator takes them.
#[derive(Clone, Debug, Default)]
struct Outbox(Arc<Mutex<Vec<(Destination, Bytes)>>>);

impl Outbox {
    fn take(&self) -> Vec<(Destination, Bytes)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn push(&self, to: Destination, frame: Bytes) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((to, framed(&frame)));
    }
}

impl Network for Outbox {
    fn send_on(&self, _lane: Lane, to: ReplicaId, frame: Bytes) -> Result<(), SendError> {
        self.push(Destination::Replica(to), frame);
        Ok(())
    }

    fn send_to_client(&self, client: PublicKey, frame: Bytes) -> Result<(), SendError> {
        self.push(Destination::Client(client), frame);
        Ok(())
    }
}

/// A replica process while it runs.
struct Running {
    shell: Shell<Outbox>,
    checker: Checker,
    outbox: Outbox,
    events: Arc<Mutex<Vec<ShellEvent>>>,
}

/// Counters of what the simulated replica's inbound path refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShellStats {
    /// Frames whose length prefix or encoding was wrong.
    pub frames_refused: u64,
}

pub struct SimReplica {
    pub id: ReplicaId,
    pub node: Node,
    config: Arc<Config>,
    seed: u64,
    signer: Arc<dyn Signer>,
    verifier: Arc<dyn Verifier>,
    clients: Arc<BTreeMap<ClientId, usize>>,
    client_keys: Arc<Vec<PublicKey>>,
    app: AppFactory,
    disk: SharedDisk,
    storage_faults: StorageFaults,
    running: Option<Running>,
    /// A crashed Byzantine replica's behaviour, until it restarts.
    behaviour: Option<Box<dyn Behaviour>>,
    pub stats: ShellStats,
    pub restarts: u32,
    /// States installed by state transfer, in the runs that ended.
    state_installs: u64,
    /// Tentative executions rolled back, in the runs that ended.
    rollbacks: u64,
    /// What storage faults did, one line each.
    pub storage_damage: Vec<String>,
    /// State transfer counters of the runs that ended.
    transfer_before: TransferStats,
}

impl std::fmt::Debug for SimReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimReplica")
            .field("node", &self.node)
            .field("crashed", &self.running.is_none())
            .field("behaviour", &self.behaviour_name())
            .finish()
    }
}

impl SimReplica {
    /// A replica on an empty disk, started.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node: Node,
        config: Arc<Config>,
        seed: u64,
        signer: Arc<dyn Signer>,
        verifier: Arc<dyn Verifier>,
        clients: Arc<BTreeMap<ClientId, usize>>,
        app: AppFactory,
        effects: &mut Effects<'_>,
    ) -> SimReplica {
        let id = node.replica().expect("a replica node");
        let mut client_keys: Vec<(usize, PublicKey)> =
            clients.iter().map(|(key, index)| (*index, key.0)).collect();
        client_keys.sort();
        let mut replica = SimReplica {
            id,
            node,
            config,
            seed: seed ^ u64::from(matches!(node, Node::Twin(_))),
            signer,
            verifier,
            clients,
            client_keys: Arc::new(client_keys.into_iter().map(|(_, key)| key).collect()),
            app,
            disk: SharedDisk::default(),
            storage_faults: StorageFaults::None,
            running: None,
            behaviour: None,
            stats: ShellStats::default(),
            restarts: 0,
            state_installs: 0,
            rollbacks: 0,
            storage_damage: Vec::new(),
            transfer_before: TransferStats::default(),
        };
        replica.start(effects);
        replica
    }

    pub fn signer(&self) -> Arc<dyn Signer> {
        self.signer.clone()
    }

    pub fn verifier(&self) -> Arc<dyn Verifier> {
        self.verifier.clone()
    }

    pub fn directory(&self) -> Arc<BTreeMap<ClientId, usize>> {
        self.clients.clone()
    }

    pub fn app_factory(&self) -> AppFactory {
        self.app.clone()
    }

    pub fn core(&self) -> Option<&Replica> {
        self.running.as_ref().map(|running| running.shell.core())
    }

    pub fn is_crashed(&self) -> bool {
        self.running.is_none()
    }

    pub fn is_byzantine(&self) -> bool {
        self.behaviour_name().is_some()
    }

    pub fn behaviour_name(&self) -> Option<&'static str> {
        match &self.running {
            Some(running) => running.shell.behaviour_name(),
            None => self.behaviour.as_ref().map(|b| b.name()),
        }
    }

    pub fn set_behaviour(&mut self, behaviour: Box<dyn Behaviour>) {
        match self.running.as_mut() {
            Some(running) => running.shell.set_behaviour(behaviour),
            None => self.behaviour = Some(behaviour),
        }
    }

    /// Gives this replica a faulty disk from now on (see [`StorageFaults`]).
    pub fn set_storage_faults(&mut self, faults: StorageFaults) {
        self.storage_faults = faults;
    }

    /// The application's state, as its snapshot bytes (None while crashed).
    pub fn app_snapshot(&self) -> Option<Vec<u8>> {
        self.running
            .as_ref()
            .map(|running| running.shell.app().snapshot())
    }

    /// The shell's status now (None while crashed). The shell publishes its status on
    /// ticks only, and checkers read between them, so it is published afresh here.
    pub fn status(&self) -> Option<NodeStatus> {
        self.running.as_ref().map(|running| {
            running.shell.publish_status();
            running.shell.status().borrow().clone()
        })
    }

    /// What state transfer fetched, refused and fetched again, over every run.
    pub fn transfer_stats(&self) -> TransferStats {
        let mut stats = self.transfer_before.clone();
        if let Some(running) = &self.running {
            running.shell.publish_status();
            stats.add(&running.shell.status().borrow().transfer);
        }
        stats
    }

    /// States installed by state transfer, over every run.
    pub fn state_installs(&self) -> u64 {
        self.state_installs + self.status().map_or(0, |status| status.state_installs)
    }

    /// Tentative executions rolled back, over every run.
    pub fn rollbacks(&self) -> u64 {
        self.rollbacks + self.status().map_or(0, |status| status.rollbacks)
    }

    /// What the store holds of the protocol, as a restart would load it (None while
    /// crashed).
    pub fn persisted(&self) -> Option<rampart_replica::core::PersistedState> {
        let running = self.running.as_ref()?;
        Some(
            running
                .shell
                .store()
                .load()
                .expect("a simulated store loads"),
        )
    }

    /// The checkpoint states the store holds (0 while crashed).
    pub fn stored_checkpoints(&self) -> usize {
        self.running.as_ref().map_or(0, |running| {
            running
                .shell
                .store()
                .checkpoint_seqs()
                .map_or(0, |seqs| seqs.len())
        })
    }

    /// The bytes the store holds on the simulated disk.
    pub fn stored_bytes(&self) -> usize {
        self.disk.lock().stored_bytes()
    }

    /// The power goes: the shell and everything in memory are lost; the disk keeps what it
    /// made durable, and a faulty disk (see [`StorageFaults`]) may lose or damage more, as
    /// `pick` chooses.
    pub fn crash(&mut self, pick: u64) {
        let (kept, fault) = match self.storage_faults {
            StorageFaults::None => (usize::MAX, DiskFault::None),
            StorageFaults::Faulty => (
                (pick % 4) as usize,
                match (pick >> 8) % 3 {
                    0 => DiskFault::None,
                    1 => DiskFault::TornLastWrite,
                    _ => DiskFault::Corrupt { pick: pick >> 16 },
                },
            ),
        };
        self.crash_with(kept, fault);
    }

    /// The power goes; of the unsynced writes the first `unsynced_kept` survive, then
    /// `fault` strikes the disk.
    pub fn crash_with(&mut self, unsynced_kept: usize, fault: DiskFault) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.shell.publish_status();
        let status = running.shell.status().borrow().clone();
        self.transfer_before.add(&status.transfer);
        self.state_installs += status.state_installs;
        self.rollbacks += status.rollbacks;
        self.behaviour = running.shell.into_behaviour();
        if let Some(damage) = self.disk.lock().crash(unsynced_kept, fault) {
            self.storage_damage.push(damage);
        }
    }

    /// Wipes the disk of a crashed replica: it comes back with nothing.
    pub fn wipe(&mut self) {
        assert!(self.running.is_none(), "wipe a crashed replica only");
        self.disk.lock().wipe();
    }

    /// Starts again from what the disk holds. A store that fails its checks (a record
    /// corrupted) is not run on: the replica is re-provisioned on an empty disk, as the
    /// store's error tells an operator to do, and catches up from its peers.
    pub fn restart(&mut self, effects: &mut Effects<'_>) {
        assert!(self.running.is_none(), "restart of a running replica");
        self.restarts += 1;
        self.start(effects);
    }

    fn start(&mut self, effects: &mut Effects<'_>) {
        let seed = self.seed.wrapping_add(u64::from(self.restarts));
        let outbox = Outbox::default();
        let events = Arc::new(Mutex::new(Vec::new()));
        let behaviour = self.behaviour.take();
        let shell = match self.recover(seed, &outbox, &events, behaviour) {
            Ok(shell) => shell,
            Err((error, behaviour)) => {
                self.storage_damage.push(format!(
                    "refused to run on its store ({error}): re-provisioned on an empty disk"
                ));
                self.disk.lock().wipe();
                match self.recover(seed, &outbox, &events, behaviour) {
                    Ok(shell) => shell,
                    Err((error, _)) => panic!("{}: an empty store fails: {error}", self.id),
                }
            }
        };
        let checker = Checker::new(
            self.config.cluster.clone(),
            self.config.limits(),
            self.verifier.clone(),
            shell.progress(),
        );
        self.running = Some(Running {
            shell,
            checker,
            outbox,
            events,
        });
        self.flush(effects);
    }

    /// Opens the store on the disk and rebuilds the shell from it, as a process start does.
    /// A store that fails its checks is refused, with the behaviour handed back.
    #[allow(clippy::type_complexity)]
    fn recover(
        &self,
        seed: u64,
        outbox: &Outbox,
        events: &Arc<Mutex<Vec<ShellEvent>>>,
        behaviour: Option<Box<dyn Behaviour>>,
    ) -> Result<Shell<Outbox>, (String, Option<Box<dyn Behaviour>>)> {
        let store = match self.open_store() {
            Ok(store) => store,
            Err(error) => return Err((error.to_string(), behaviour)),
        };
        let observed = events.clone();
        let ports = Ports {
            store,
            network: outbox.clone(),
            signer: self.signer.clone(),
            status: tokio::sync::watch::channel(NodeStatus::default()).0,
            observer: Some(Box::new(move |event| {
                observed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(event);
            })),
        };
        // A Byzantine replica's behaviour is installed once recovery succeeded (a refused
        // store hands it back for the next attempt): it rewrites what the replica sends
        // from its first round on, the messages recovery resends excepted.
        match Shell::recover(
            self.config.clone(),
            self.id,
            seed,
            (self.app)(),
            ports,
            None,
        ) {
            Ok(mut shell) => {
                if let Some(behaviour) = behaviour {
                    shell.set_behaviour(behaviour);
                }
                shell.check_invariants_always(true);
                Ok(shell)
            }
            Err(error) => Err((error.to_string(), behaviour)),
        }
    }

    fn open_store(&self) -> Result<Store, StoreError> {
        let identity = StoreIdentity {
            cluster: self.config.cluster.id,
            replica: self.id,
            key: self.signer.public_key(),
        };
        let options = StoreOptions {
            sync: self.storage_faults == StorageFaults::None,
            ..StoreOptions::default()
        };
        let name = format!("memory:{:?}", self.node);
        Store::on_disk(
            Box::new(self.disk.clone()),
            std::path::Path::new(&name),
            &identity,
            options,
            self.config.replica_count(),
        )
    }

    /// A tick of the simulated clock.
    pub fn tick(&mut self, effects: &mut Effects<'_>) {
        self.round(Vec::new(), true, effects);
    }

    /// A packet arrives: its frame is unframed, decoded and verified as on a real replica.
    pub fn deliver(&mut self, from: Node, packet: Packet, effects: &mut Effects<'_>) {
        let Some(running) = self.running.as_ref() else {
            return;
        };
        let max = self.config.frame_bytes_max;
        let frame = match &packet {
            Packet::Peer(bytes) | Packet::Client(bytes) => unframed(bytes, max),
            Packet::Replica(_) => return,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            _ => {
                self.stats.frames_refused += 1;
                return;
            }
        };
        let inbound = match (from, packet) {
            (Node::Replica(id) | Node::Twin(id), Packet::Peer(_)) => {
                Inbound::Replica { from: id, frame }
            }
            (Node::Client(index), Packet::Client(_)) => match self.client_keys.get(index) {
                Some(key) => Inbound::Client { from: *key, frame },
                None => return,
            },
            _ => return,
        };
        let inputs = running.checker.check(vec![inbound]);
        self.round(inputs, false, effects);
    }

    fn round(
        &mut self,
        inputs: Vec<rampart_replica::shell::CoreInput>,
        tick: bool,
        effects: &mut Effects<'_>,
    ) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        if let Err(error) = running.shell.round(inputs, tick) {
            panic!(
                "replica {}: a simulated disk does not fail: {error}",
                self.id
            );
        }
        self.flush(effects);
    }

    /// Hands what the shell sent to the network and what it observed to the checkers.
    fn flush(&mut self, effects: &mut Effects<'_>) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        for (to, frame) in running.outbox.take() {
            let (to, packet) = match to {
                Destination::Replica(to) => (Node::Replica(to), Packet::Peer(frame)),
                Destination::Client(key) => match self.clients.get(&ClientId(key)) {
                    Some(&index) => (Node::Client(index), Packet::Replica(frame)),
                    None => continue,
                },
            };
            effects.outgoing.push(Envelope {
                from: self.node,
                to,
                packet,
            });
        }
        let events = std::mem::take(&mut *running.events.lock().unwrap_or_else(|p| p.into_inner()));
        for event in events {
            effects.events.push(match event {
                ShellEvent::Executed { seq, digest } => Event::Executed {
                    replica: self.id,
                    node: self.node,
                    seq,
                    digest,
                },
                ShellEvent::Checkpoint { seq, state_digest } => Event::Checkpoint {
                    replica: self.id,
                    node: self.node,
                    seq,
                    state_digest,
                },
            });
        }
    }
}
