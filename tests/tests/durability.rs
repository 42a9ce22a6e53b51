//! Durable replicas in one process: a wiped replica rejoins by state transfer, a 100 MB
//! state travels in chunks, and disk use stays bounded over a long run.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rampart_client::{Client, ClientConfig};
use rampart_replica::app::{AppError, ApplyContext, StateMachine, Typed};
use rampart_replica::apps::kv::{Command, KvStore};
use rampart_replica::core::Rng;
use rampart_replica::message::{ClientId, ReplicaId};
use rampart_testkit::real::{LocalCluster, LocalClusterConfig};

async fn client(cluster: &LocalCluster) -> Client {
    let mut config = ClientConfig::new(cluster.cluster().clone(), cluster.client_addresses());
    config.request_timeout = Duration::from_secs(60);
    config.retransmit_interval_min = Duration::from_millis(300);
    Client::connect(config, cluster.client_key(0))
        .await
        .expect("client connects")
}

fn kv() -> Arc<dyn Fn() -> Box<dyn StateMachine> + Send + Sync> {
    Arc::new(|| Box::new(Typed::new(KvStore::new())))
}

fn put(i: u64) -> Command {
    Command::Put {
        key: Bytes::from(format!("key-{}", i % 16)),
        value: Bytes::from(format!("value-{i}")),
    }
}

/// The bytes under a directory.
fn disk_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_data_directory_was_wiped_rejoins_by_state_transfer() {
    let mut config = LocalClusterConfig::new(4, kv());
    config.protocol = |protocol| {
        protocol.checkpoint_interval = 4;
        protocol.log_window = 8;
    };
    let mut cluster = LocalCluster::start(config).await.expect("cluster starts");
    let client = client(&cluster).await;
    for i in 0..10 {
        client.execute::<KvStore>(&put(i)).await.expect("put");
    }
    cluster.stop(ReplicaId(3)).await.expect("stops");
    for i in 10..40 {
        client.execute::<KvStore>(&put(i)).await.expect("put");
    }
    cluster.wipe(ReplicaId(3)).await.expect("restarts empty");
    let target = cluster
        .status(ReplicaId(0))
        .expect("running")
        .stable_checkpoint;
    let caught_up = cluster
        .wait_until(Duration::from_secs(30), |statuses| {
            statuses
                .get(&ReplicaId(3))
                .is_some_and(|s| s.stable_checkpoint >= target && s.last_executed >= target)
        })
        .await;
    assert!(
        caught_up,
        "the wiped replica did not reach checkpoint {target}"
    );
    let mine = cluster
        .status(ReplicaId(3))
        .expect("running")
        .last_checkpoint;
    assert!(mine.is_some_and(|(seq, _)| seq >= target));
    assert!(
        cluster.safety_violations().is_empty(),
        "{:?}",
        cluster.safety_violations()
    );
    client.close().await;
    cluster.shutdown().await;
}

/// An application whose state is a large deterministic blob.
#[derive(Default)]
struct Blob {
    bytes: Vec<u8>,
}

impl StateMachine for Blob {
    /// The operation is a little-endian length: the blob grows by that many pseudo-random
    /// bytes, the same on every replica.
    fn apply(&mut self, context: &ApplyContext, operation: &[u8]) -> Vec<u8> {
        let Ok(length) = <[u8; 8]>::try_from(operation).map(u64::from_le_bytes) else {
            return Vec::new();
        };
        let mut rng = Rng::new(context.seq.0);
        let start = self.bytes.len();
        self.bytes.resize(start + length as usize, 0);
        for chunk in self.bytes[start..].chunks_mut(8) {
            let word = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        (self.bytes.len() as u64).to_le_bytes().to_vec()
    }

    fn query(&self, _client: &ClientId, _operation: &[u8]) -> Vec<u8> {
        (self.bytes.len() as u64).to_le_bytes().to_vec()
    }

    fn snapshot(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), AppError> {
        self.bytes = snapshot.to_vec();
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_megabyte_state_transfers_in_chunks() {
    const STATE_BYTES: u64 = 100 << 20;
    let mut config = LocalClusterConfig::new(4, Arc::new(|| Box::new(Blob::default())));
    config.protocol = |protocol| {
        protocol.checkpoint_interval = 4;
        protocol.log_window = 8;
        // Snapshotting 100 MB stalls a replica for a moment; do not mistake it for a fault.
        protocol.view_change_timeout_ticks = 4_000;
    };
    let mut cluster = LocalCluster::start(config).await.expect("cluster starts");
    let client = client(&cluster).await;
    cluster.stop(ReplicaId(3)).await.expect("stops");
    let grown = client
        .submit(Bytes::from(STATE_BYTES.to_le_bytes().to_vec()))
        .await
        .expect("the blob grows");
    assert_eq!(grown.as_ref(), STATE_BYTES.to_le_bytes());
    for _ in 0..8 {
        client
            .submit(Bytes::from(0u64.to_le_bytes().to_vec()))
            .await
            .expect("no-op");
    }
    let target = cluster
        .status(ReplicaId(0))
        .expect("running")
        .stable_checkpoint;
    assert!(target.0 >= 4);
    cluster.wipe(ReplicaId(3)).await.expect("restarts empty");
    let caught_up = cluster
        .wait_until(Duration::from_secs(120), |statuses| {
            statuses
                .get(&ReplicaId(3))
                .is_some_and(|s| s.last_executed >= target)
        })
        .await;
    assert!(caught_up, "the 100 MB state did not arrive");
    let theirs = cluster
        .status(ReplicaId(0))
        .expect("running")
        .last_checkpoint;
    let mine = cluster
        .status(ReplicaId(3))
        .expect("running")
        .last_checkpoint;
    assert_eq!(
        mine.map(|(_, digest)| digest),
        theirs
            .filter(|(seq, _)| Some(*seq) == mine.map(|(s, _)| s))
            .map(|(_, d)| d)
            .or(mine.map(|(_, d)| d)),
    );
    assert!(disk_bytes(&cluster.data_dir(ReplicaId(3))) >= STATE_BYTES);
    assert!(
        cluster.safety_violations().is_empty(),
        "{:?}",
        cluster.safety_violations()
    );
    client.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_use_stays_bounded_over_a_thousand_checkpoints() {
    let mut config = LocalClusterConfig::new(4, kv());
    config.protocol = |protocol| {
        protocol.checkpoint_interval = 2;
        protocol.log_window = 4;
        protocol.batch_size_max = 1;
    };
    // Small buffers, so that the run goes through many flushes and compactions.
    config.memtable_bytes = 64 << 10;
    let cluster = LocalCluster::start(config).await.expect("cluster starts");
    let client = client(&cluster).await;
    let mut sizes = Vec::new();
    for i in 0..2400u64 {
        client.execute::<KvStore>(&put(i)).await.expect("put");
        if i % 200 == 199 {
            sizes.push(disk_bytes(&cluster.data_dir(ReplicaId(1))));
        }
    }
    let stable = cluster
        .status(ReplicaId(1))
        .expect("running")
        .stable_checkpoint;
    assert!(
        stable.0 / 2 >= 1_000,
        "only {} checkpoints became stable",
        stable.0 / 2
    );
    println!("data directory of replica 1 after every 200 commands: {sizes:?} bytes");
    // RocksDB's files come and go with flushes and compactions; what matters is that the
    // second half of the run needs no more room than the first.
    let half = sizes.len() / 2;
    let early = sizes[..half].iter().copied().max().unwrap_or(0);
    let late = sizes[half..].iter().copied().max().unwrap_or(0);
    assert!(
        late <= 2 * early,
        "disk use grew from at most {early} bytes in the first half to {late} in the second"
    );
    client.close().await;
    cluster.shutdown().await;
}
