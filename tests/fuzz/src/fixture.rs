//! The cluster every target uses: four replicas and two clients with keys from fixed seeds,
//! a protocol configuration with small intervals (so that a few inputs reach checkpoints
//! and view changes), and builders of validly signed messages.
//!
//! Signatures are real ed25519 signatures. Ed25519 signing is deterministic, so the
//! builders remember every signature they made: a fuzzer that builds the same message again
//! pays for a hash lookup, not for a signature.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use rampart_crypto::{ClusterId, Digest, KeyPair, PublicKey, Signable, Signature, Signed, Signer};
use rampart_replica::cluster::{ClientAdmission, Cluster};
use rampart_replica::core::Config;
use rampart_replica::message::{
    Batch, Checkpoint, CheckpointCertificate, ClientId, Commit, CommitCertificate, Limits, Message,
    NewView, PrePrepare, Prepare, PreparedCertificate, ReplicaId, Request, Seq, Status, View,
    ViewChange,
};

pub const CLUSTER_ID: ClusterId = ClusterId(0x5eed);
pub const REPLICA_COUNT: usize = 4;
pub const CLIENT_COUNT: usize = 2;

/// A signer that remembers its signatures.
pub struct MemoSigner {
    key: KeyPair,
    memo: Mutex<HashMap<Vec<u8>, Signature>>,
}

/// Memos stop growing here; a long fuzzing run builds many distinct messages.
const MEMO_ENTRIES_MAX: usize = 1 << 16;

impl MemoSigner {
    fn new(key: KeyPair) -> MemoSigner {
        MemoSigner {
            key,
            memo: Mutex::new(HashMap::new()),
        }
    }
}

impl Signer for MemoSigner {
    fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    fn sign(&self, bytes: &[u8]) -> Signature {
        let mut memo = self
            .memo
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(signature) = memo.get(bytes) {
            return *signature;
        }
        let signature = self.key.sign(bytes);
        if memo.len() < MEMO_ENTRIES_MAX {
            memo.insert(bytes.to_vec(), signature);
        }
        signature
    }
}

impl std::fmt::Debug for MemoSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemoSigner({})", self.key.public_key().short())
    }
}

/// The shared cluster.
#[derive(Debug)]
pub struct Fixture {
    pub replicas: Vec<MemoSigner>,
    pub clients: Vec<MemoSigner>,
    pub cluster: Cluster,
    /// The protocol configuration, with tentative execution off and on.
    pub configs: [Arc<Config>; 2],
}

/// The fixture, made once per process.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let replicas: Vec<MemoSigner> = (0..REPLICA_COUNT as u64)
            .map(|seed| MemoSigner::new(KeyPair::from_seed(seed)))
            .collect();
        let clients: Vec<MemoSigner> = (0..CLIENT_COUNT as u64)
            .map(|seed| MemoSigner::new(KeyPair::from_seed(1_000 + seed)))
            .collect();
        let cluster = Cluster::new(
            CLUSTER_ID,
            replicas.iter().map(MemoSigner::public_key).collect(),
        )
        .expect("a valid cluster");
        let config = |tentative_execution| {
            let config = Config {
                checkpoint_interval: 4,
                log_window: 8,
                batch_size_max: 4,
                view_change_timeout_ticks: 10,
                status_interval_ticks: 7,
                tentative_execution,
                clients: ClientAdmission::listed(clients.iter().map(MemoSigner::public_key)),
                ..Config::new(cluster.clone())
            };
            config.validate().expect("a valid configuration");
            Arc::new(config)
        };
        Fixture {
            configs: [config(false), config(true)],
            replicas,
            clients,
            cluster,
        }
    })
}

impl Fixture {
    pub fn limits(&self) -> Limits {
        self.configs[0].limits()
    }

    pub fn sign<T: Signable>(&self, replica: u32, value: T) -> Signed<T> {
        let signer = &self.replicas[replica as usize % REPLICA_COUNT];
        Signed::sign(CLUSTER_ID, value, signer).expect("our own values encode")
    }

    pub fn client_id(&self, client: usize) -> ClientId {
        ClientId(self.clients[client % CLIENT_COUNT].public_key())
    }

    pub fn request(&self, client: usize, number: u64, read_only: bool) -> Signed<Request> {
        let request = Request {
            client: self.client_id(client),
            number,
            operation: Bytes::from(format!("put k{client} {number}")),
            read_only,
        };
        Signed::sign(CLUSTER_ID, request, &self.clients[client % CLIENT_COUNT])
            .expect("our own values encode")
    }

    /// The batches messages are built from: the null request and three small batches
    /// whose requests overlap, so that the reply cache and deduplication come into play.
    pub fn batches(&self) -> &'static [Arc<Batch>; 4] {
        static BATCHES: OnceLock<[Arc<Batch>; 4]> = OnceLock::new();
        BATCHES.get_or_init(|| {
            [
                Batch::null(),
                Arc::new(Batch::new(vec![self.request(0, 1, false)])),
                Arc::new(Batch::new(vec![
                    self.request(0, 2, false),
                    self.request(1, 1, false),
                ])),
                Arc::new(Batch::new(vec![self.request(1, 2, false)])),
            ]
        })
    }

    pub fn primary(&self, view: u64) -> u32 {
        View(view).primary(REPLICA_COUNT).0
    }

    pub fn pre_prepare(&self, view: u64, seq: u64, digest: Digest) -> Signed<PrePrepare> {
        let pre_prepare = PrePrepare {
            view: View(view),
            seq: Seq(seq),
            digest,
        };
        self.sign(self.primary(view), pre_prepare)
    }

    pub fn prepare(&self, replica: u32, view: u64, seq: u64, digest: Digest) -> Signed<Prepare> {
        let prepare = Prepare {
            view: View(view),
            seq: Seq(seq),
            digest,
            replica: ReplicaId(replica),
        };
        self.sign(replica, prepare)
    }

    pub fn commit(&self, replica: u32, view: u64, seq: u64, digest: Digest) -> Signed<Commit> {
        let commit = Commit {
            view: View(view),
            seq: Seq(seq),
            digest,
            replica: ReplicaId(replica),
        };
        self.sign(replica, commit)
    }

    pub fn checkpoint(&self, replica: u32, seq: u64, state_digest: Digest) -> Signed<Checkpoint> {
        let checkpoint = Checkpoint {
            seq: Seq(seq),
            state_digest,
            replica: ReplicaId(replica),
        };
        self.sign(replica, checkpoint)
    }

    pub fn status(&self, replica: u32, view: u64, normal: bool, executed: u64) -> Signed<Status> {
        let status = Status {
            replica: ReplicaId(replica),
            view: View(view),
            normal,
            last_executed: Seq(executed),
            stable_seq: Seq(executed / 4 * 4),
        };
        self.sign(replica, status)
    }

    /// A stable checkpoint proven by the first `quorum` replicas (none for the genesis).
    pub fn checkpoint_certificate(&self, seq: u64, state_digest: Digest) -> CheckpointCertificate {
        if seq == 0 {
            return CheckpointCertificate::genesis();
        }
        CheckpointCertificate {
            seq: Seq(seq),
            state_digest,
            proof: (0..self.cluster.quorum() as u32)
                .map(|replica| self.checkpoint(replica, seq, state_digest))
                .collect(),
        }
    }

    /// A prepared certificate: the pre-prepare and the PREPAREs of every backup.
    pub fn prepared_certificate(&self, view: u64, seq: u64, digest: Digest) -> PreparedCertificate {
        let primary = self.primary(view);
        PreparedCertificate {
            pre_prepare: self.pre_prepare(view, seq, digest),
            prepares: (0..REPLICA_COUNT as u32)
                .filter(|&replica| replica != primary)
                .take(self.cluster.quorum() - 1)
                .map(|replica| self.prepare(replica, view, seq, digest))
                .collect(),
        }
    }

    pub fn commit_certificate(&self, view: u64, seq: u64, batch: &Arc<Batch>) -> CommitCertificate {
        CommitCertificate {
            commits: (0..self.cluster.quorum() as u32)
                .map(|replica| self.commit(replica, view, seq, batch.digest()))
                .collect(),
            batch: batch.clone(),
        }
    }

    pub fn view_change(
        &self,
        replica: u32,
        new_view: u64,
        checkpoint: CheckpointCertificate,
        prepared: Vec<PreparedCertificate>,
    ) -> Signed<ViewChange> {
        let view_change = ViewChange {
            new_view: View(new_view),
            replica: ReplicaId(replica),
            checkpoint,
            prepared,
        };
        self.sign(replica, view_change)
    }

    /// A NEW-VIEW for `view` from its primary, with O computed from `view_changes` by the
    /// rule of PBFT §4.4, and the batches of O that are known here.
    pub fn new_view(&self, view: u64, view_changes: Vec<Signed<ViewChange>>) -> Message {
        let min_s = view_changes
            .iter()
            .map(|vc| vc.value.checkpoint.seq)
            .max()
            .unwrap_or_default();
        let mut best: HashMap<Seq, &PreparedCertificate> = HashMap::new();
        for certificate in view_changes.iter().flat_map(|vc| &vc.value.prepared) {
            if certificate.seq() <= min_s {
                continue;
            }
            let better = best
                .get(&certificate.seq())
                .is_none_or(|current| certificate.view() > current.view());
            if better {
                best.insert(certificate.seq(), certificate);
            }
        }
        let max_s = best.keys().max().copied().unwrap_or(min_s);
        let null = Batch::null().digest();
        let pre_prepares: Vec<Signed<PrePrepare>> = (min_s.0 + 1..=max_s.0)
            .map(|n| {
                let digest = best.get(&Seq(n)).map_or(null, |c| c.digest());
                self.pre_prepare(view, n, digest)
            })
            .collect();
        let batches = pre_prepares
            .iter()
            .filter_map(|p| {
                self.batches()
                    .iter()
                    .find(|b| !b.is_empty() && b.digest() == p.value.digest)
                    .cloned()
            })
            .collect();
        let new_view = NewView {
            view: View(view),
            view_changes,
            pre_prepares,
        };
        Message::NewView {
            new_view: self.sign(self.primary(view), new_view),
            batches,
        }
    }
}
