//! Reading stopped replicas' stores offline, as an auditor would: checkpoints, their
//! state digests, evidence, and the key-value state at a checkpoint.

use std::path::Path;

use rampart_deploy::files::cluster::ClusterFile;
use rampart_replica::app::{StateMachine, Typed};
use rampart_replica::apps::kv::KvStore;
use rampart_replica::message::{ReplicaId, Seq};
use rampart_replica::store::{Store, StoreIdentity, StoreOptions};

/// Opens replica `replica`'s store in `data_dir`; the replica must be stopped.
pub fn open(cluster_dir: &Path, data_dir: &Path, replica: usize) -> Store {
    let spec = ClusterFile::load(&cluster_dir.join("cluster.toml")).expect("cluster file");
    let identity = StoreIdentity {
        cluster: spec.cluster.id,
        replica: ReplicaId(replica as u32),
        key: spec.cluster.replicas[replica],
    };
    Store::open(
        data_dir,
        &identity,
        StoreOptions::default(),
        spec.cluster.size(),
    )
    .unwrap_or_else(|error| panic!("replica {replica}'s store: {error}"))
}

/// The newest checkpoint every store holds a state for, searching down from the oldest
/// of their newest ones in steps of `interval`.
pub fn common_checkpoint(stores: &[Store], interval: u64) -> Option<Seq> {
    let newest = stores
        .iter()
        .map(|store| {
            store
                .latest_checkpoint()
                .expect("read checkpoints")
                .map_or(0, |meta| meta.seq.0)
        })
        .min()?;
    let mut seq = newest / interval * interval;
    while seq > 0 {
        let everywhere = stores.iter().all(|store| {
            store
                .checkpoint_meta(Seq(seq))
                .expect("read a checkpoint")
                .is_some()
        });
        if everywhere {
            return Some(Seq(seq));
        }
        seq -= interval;
    }
    None
}

/// The key-value store restored from the snapshot at `seq`.
pub fn kv_state(store: &Store, seq: Seq) -> KvStore {
    let snapshot = store
        .read_snapshot(seq)
        .expect("read the snapshot")
        .unwrap_or_else(|| panic!("no snapshot at {seq}"));
    let mut machine = Typed::new(KvStore::new());
    machine.restore(&snapshot).expect("the snapshot restores");
    machine.app().clone()
}
