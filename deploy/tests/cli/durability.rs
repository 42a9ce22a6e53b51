//! Durable replicas as processes: `kill -9` of a backup and then of the primary under a
//! client workload loses no acknowledged write and leaves no replica contradicting
//! itself, and a replica whose data directory was wiped rejoins by state transfer.
//!
//! Each test ends by stopping every replica and reading their stores offline: the state
//! digests of a common checkpoint agree, no store holds evidence against any replica, and
//! the key-value state restored from each replica's snapshot holds every write the
//! client saw acknowledged at or below that checkpoint, and no later one.
//!
//! The crash test draws its fault points from a seed it prints; `RAMPART_TEST_SEED=<seed>`
//! draws the same ones again (the timing of a real cluster still varies).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rampart_client::Client;
use rampart_deploy::client::ClientSetup;
use rampart_replica::apps::kv::{Command, KvStore, Output};
use rampart_replica::core::Rng;
use rampart_replica::message::Seq;
use rampart_replica::store::Store;
use tokio::runtime::Runtime;

use crate::processes::ProcessCluster;
use crate::stores;
use crate::support::one_cluster_at_a_time;

/// K: small, so that a short run passes many checkpoints and garbage collections.
const CHECKPOINT_INTERVAL: u64 = 8;
/// Concurrent writers in the crash workload.
const WRITERS: usize = 4;
/// The most puts one writer makes, should the faults pass quicker than expected.
const PUTS_PER_WRITER_MAX: usize = 1_000;
/// How long the workload may wait for a number of acknowledged puts.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);
/// Stop-inspect-restart rounds before settling is declared failed.
const SETTLE_ATTEMPTS: usize = 4;

fn kv_cluster() -> ProcessCluster {
    let interval = CHECKPOINT_INTERVAL.to_string();
    ProcessCluster::init("kv", 4, 1, &["--checkpoint-interval", &interval])
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A client for `client-0.toml`, with a quick first retransmission so that a dead
/// primary costs little, and a short QUIC idle timeout: a replica killed with -9 closes
/// nothing, and until the idle timeout ends the client's connection to it, requests sent
/// to it after its restart go nowhere and each waits for a retransmission.
fn connect(cluster: &ProcessCluster, runtime: &Runtime) -> Arc<Client> {
    let setup = ClientSetup::load(&cluster.client_config(0)).expect("client files");
    let mut config = setup.client_config().expect("client configuration");
    config.retransmit_interval_min = Duration::from_millis(300);
    config.transport.timing.idle_timeout = Duration::from_secs(2);
    let key = setup.key().expect("client key");
    let client = runtime
        .block_on(Client::connect(config, key))
        .expect("the client connects");
    Arc::new(client)
}

fn close(runtime: &Runtime, client: Arc<Client>) {
    let client = Arc::into_inner(client).expect("no other user of the client");
    runtime.block_on(client.close());
}

fn put_command(key: &str, value: &str) -> Command {
    Command::Put {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}

/// Puts that were acknowledged, by key (every key is written once), with the sequence
/// number that ordered them when the put was certified.
#[derive(Debug, Default)]
struct Acknowledged {
    values: BTreeMap<String, String>,
    seqs: BTreeMap<String, Seq>,
}

impl Acknowledged {
    fn record(&mut self, key: String, value: String, seq: Option<Seq>) {
        if let Some(seq) = seq {
            self.seqs.insert(key.clone(), seq);
        }
        let previous = self.values.insert(key, value);
        assert!(previous.is_none(), "every key is written once");
    }

    /// A certified put; returns its sequence number.
    fn put_certified(&mut self, runtime: &Runtime, client: &Client, key: String) -> Seq {
        let value = format!("value of {key}");
        let (output, certificate) = runtime
            .block_on(client.execute_certified::<KvStore>(&put_command(&key, &value)))
            .unwrap_or_else(|error| panic!("put {key}: {error}"));
        assert_eq!(output, Output::Put { previous: None }, "{key} is new");
        self.record(key, value, Some(certificate.seq));
        certificate.seq
    }
}

/// Reads every acknowledged key through the ordered path, eight at a time.
fn assert_readable(runtime: &Runtime, client: &Arc<Client>, acknowledged: &Acknowledged) {
    let entries: Vec<(String, String)> = acknowledged
        .values
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let chunks: Vec<Vec<(String, String)>> = entries
        .chunks(entries.len().div_ceil(8).max(1))
        .map(<[_]>::to_vec)
        .collect();
    let readers: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let client = Arc::clone(client);
            runtime.spawn(async move {
                for (key, value) in chunk {
                    let get = Command::Get {
                        key: Bytes::from(key.clone()),
                    };
                    let output = client
                        .execute::<KvStore>(&get)
                        .await
                        .unwrap_or_else(|error| panic!("get {key}: {error}"));
                    assert_eq!(
                        output,
                        Output::Get {
                            value: Some(Bytes::from(value))
                        },
                        "{key}"
                    );
                }
            })
        })
        .collect();
    for reader in readers {
        runtime.block_on(reader).expect("reader");
    }
}

/// Pushes certified puts (three checkpoint intervals' worth), stops every replica and
/// looks for a checkpoint all of them stored at or above `at_least`. A replica still
/// catching up may not have one yet: then the cluster is restarted and it goes again.
/// Returns the stopped cluster's stores and the common checkpoint.
fn settle(
    cluster: &mut ProcessCluster,
    runtime: &Runtime,
    mut client: Arc<Client>,
    acknowledged: &mut Acknowledged,
    at_least: Seq,
) -> (Vec<Store>, Seq) {
    for attempt in 0..SETTLE_ATTEMPTS {
        for index in 0..3 * CHECKPOINT_INTERVAL {
            let key = format!("settle-{attempt}-{index}");
            acknowledged.put_certified(runtime, &client, key);
        }
        close(runtime, client);
        cluster.stop_all();
        let stores: Vec<Store> = (0..cluster.size())
            .map(|replica| stores::open(cluster.dir(), &cluster.data_dir(replica), replica))
            .collect();
        let common = stores::common_checkpoint(&stores, CHECKPOINT_INTERVAL);
        println!("settle attempt {attempt}: common checkpoint {common:?}");
        if let Some(common) = common.filter(|common| *common >= at_least) {
            return (stores, common);
        }
        drop(stores);
        cluster.start_all();
        client = connect(cluster, runtime);
    }
    panic!("the replicas stored no common checkpoint at or above {at_least}");
}

/// The offline checks on stopped replicas' stores at their common checkpoint: (a) equal
/// state digests, (b) no evidence, (c) exactly the acknowledged writes at or below it.
fn assert_stores_agree(stores: &[Store], common: Seq, acknowledged: &Acknowledged) {
    let digests: Vec<_> = stores
        .iter()
        .map(|store| {
            store
                .checkpoint_meta(common)
                .expect("read")
                .expect("the common checkpoint")
                .state_digest
        })
        .collect();
    assert!(
        digests.iter().all(|digest| *digest == digests[0]),
        "state digests at {common} differ: {digests:?}"
    );
    for (replica, store) in stores.iter().enumerate() {
        let persisted = store.load().expect("load");
        assert!(
            persisted.evidence.is_empty(),
            "replica {replica} holds evidence: {:?}",
            persisted.evidence
        );
        let state = stores::kv_state(store, common);
        let mut expected = 0;
        for (key, value) in &acknowledged.values {
            let seq = acknowledged.seqs.get(key);
            let present = state.get(key.as_bytes());
            if seq.is_none_or(|seq| *seq <= common) {
                expected += 1;
                assert_eq!(
                    present.map(|bytes| bytes.as_ref()),
                    Some(value.as_bytes()),
                    "replica {replica}'s checkpoint {common} lacks {key}"
                );
            } else {
                assert!(
                    present.is_none(),
                    "replica {replica}'s checkpoint {common} holds {key}, ordered later"
                );
            }
        }
        assert_eq!(
            state.len(),
            expected,
            "replica {replica}'s checkpoint {common} holds unacknowledged keys"
        );
    }
}

/// Waits until `count` puts have been acknowledged.
fn wait_for_puts(acknowledged_count: &AtomicUsize, count: usize, seed: u64) {
    let started = Instant::now();
    while acknowledged_count.load(Ordering::SeqCst) < count {
        assert!(
            started.elapsed() < PROGRESS_TIMEOUT,
            "seed {seed}: stuck at {} of {count} acknowledged puts",
            acknowledged_count.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn seed() -> u64 {
    std::env::var("RAMPART_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |since| since.as_nanos() as u64)
        })
}

#[test]
fn killed_backup_and_primary_lose_no_acknowledged_put() {
    let _exclusive = one_cluster_at_a_time();
    let seed = seed();
    println!("seed {seed}: reproduce the fault points with RAMPART_TEST_SEED={seed}");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut cluster = kv_cluster();
    cluster.start_all();
    let runtime = runtime();
    let client = connect(&cluster, &runtime);

    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let acknowledged_count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let client = Arc::clone(&client);
            let acknowledged = Arc::clone(&acknowledged);
            let acknowledged_count = Arc::clone(&acknowledged_count);
            let stop = Arc::clone(&stop);
            runtime.spawn(async move {
                for index in 0..PUTS_PER_WRITER_MAX {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let key = format!("writer-{writer}-{index:04}");
                    let value = format!("{seed}-{writer}-{index}");
                    let output = client
                        .execute::<KvStore>(&put_command(&key, &value))
                        .await
                        .unwrap_or_else(|error| panic!("seed {seed}: put {key}: {error}"));
                    assert_eq!(output, Output::Put { previous: None }, "{key}");
                    acknowledged.lock().expect("lock").record(key, value, None);
                    acknowledged_count.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();

    // A backup of the client's current view, then its primary: each killed with -9 at a
    // random point of the workload and restarted with the same files a moment later.
    let mut next_fault = 20 + rng.below(60) as usize;
    for fault in ["backup", "primary"] {
        wait_for_puts(&acknowledged_count, next_fault, seed);
        let primary = (client.view().0 % 4) as usize;
        let victim = match fault {
            "backup" => (primary + 1 + rng.below(3) as usize) % 4,
            _ => primary,
        };
        let down_ms = 200 + rng.below(1_800);
        println!(
            "seed {seed}: kill -9 {fault} replica {victim} after {} puts, restart after \
             {down_ms} ms",
            acknowledged_count.load(Ordering::SeqCst)
        );
        cluster.kill(victim);
        std::thread::sleep(Duration::from_millis(down_ms));
        cluster.start(victim);
        next_fault = acknowledged_count.load(Ordering::SeqCst) + 20 + rng.below(60) as usize;
    }
    // The workload goes on until the restarted primary has had time to rejoin.
    wait_for_puts(&acknowledged_count, next_fault, seed);
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        runtime.block_on(writer).expect("writer");
    }
    cluster.assert_running();
    let mut acknowledged = Arc::into_inner(acknowledged)
        .expect("writers done")
        .into_inner()
        .expect("lock");
    println!(
        "seed {seed}: {} puts acknowledged after {:?}",
        acknowledged.values.len(),
        started.elapsed()
    );

    assert_readable(&runtime, &client, &acknowledged);
    println!(
        "seed {seed}: every acknowledged put read back after {:?}",
        started.elapsed()
    );
    // Every workload put was acknowledged before this one was sent, so it was ordered
    // before it.
    let marker = acknowledged.put_certified(&runtime, &client, "marker".to_string());
    let (stores, common) = settle(&mut cluster, &runtime, client, &mut acknowledged, marker);
    assert_stores_agree(&stores, common, &acknowledged);
    println!(
        "seed {seed}: checked at {common} after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_replica_whose_data_directory_was_wiped_rejoins_by_state_transfer() {
    let _exclusive = one_cluster_at_a_time();
    let started = Instant::now();
    let mut cluster = kv_cluster();
    cluster.start_all();
    let runtime = runtime();
    let client = connect(&cluster, &runtime);
    let mut acknowledged = Acknowledged::default();
    for index in 0..16 {
        acknowledged.put_certified(&runtime, &client, format!("before-{index:02}"));
    }

    cluster.stop(3);
    let mut last = Seq(0);
    for index in 0..40 {
        last = acknowledged.put_certified(&runtime, &client, format!("while-down-{index:02}"));
    }
    // The others' stable checkpoint can be no higher than the last checkpoint at or below
    // the last sequence number assigned.
    let target = Seq(last.0 / CHECKPOINT_INTERVAL * CHECKPOINT_INTERVAL);
    std::fs::remove_dir_all(cluster.data_dir(3)).expect("wipe replica 3's data");
    cluster.start(3);

    let mut index = 0;
    while !cluster.log(3).contains("installed a fetched state") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "replica 3 fetched no state: {}",
            cluster.log(3)
        );
        cluster.assert_running();
        acknowledged.put_certified(&runtime, &client, format!("after-{index:02}"));
        index += 1;
    }
    let (stores, common) = settle(&mut cluster, &runtime, client, &mut acknowledged, target);
    let newest = stores[3]
        .latest_checkpoint()
        .expect("read")
        .expect("a checkpoint");
    assert!(newest.seq >= target, "{:?} < {target}", newest.seq);
    assert_stores_agree(&stores, common, &acknowledged);
    println!(
        "wiped replica rejoined: target {target}, common {common}, after {:?}",
        started.elapsed()
    );
}
