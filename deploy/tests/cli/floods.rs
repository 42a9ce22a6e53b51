//! Strangers flooding a `rampart replica` process, as anyone who can reach its address
//! could: connections that announce 16 MiB frames and stall, a flood of QUIC handshakes
//! that never finish, and many idle connections held from one address.
//!
//! In each, the attacked replica's resident memory stays within 256 MiB of its idle
//! figure, a client's puts keep completing during and after the flood, and no replica
//! ever leaves view 0 (read from the stores once the replicas have stopped). Each test
//! prints the attacked replica's resident memory before, during (the peak) and after the
//! flood; `cargo nextest run -p rampart-deploy floods --no-capture` shows them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rampart_client::Client;
use rampart_deploy::client::ClientSetup;
use rampart_replica::apps::kv::{Command, KvStore};
use rampart_replica::message::View;
use rampart_replica::net::ConnectionLimits;
use rampart_testkit::stranger;
use tokio::runtime::Runtime;

use crate::processes::ProcessCluster;
use crate::stores;
use crate::support::one_cluster_at_a_time;

/// How far above its idle figure the attacked replica's resident memory may rise.
const RESIDENT_GROWTH_MAX: u64 = 256 << 20;
/// Puts the client makes while the flood goes on, and after it.
const PUTS_DURING: usize = 20;
const PUTS_AFTER: usize = 5;

/// The attacked replica's memory, in MiB, for the report each test prints.
#[derive(Debug)]
struct Figures {
    idle: u64,
    peak: u64,
    after: u64,
}

impl Figures {
    fn print(&self, name: &str) {
        eprintln!(
            "{name}: resident memory of the attacked replica: idle {} MiB, peak during the \
             flood {} MiB, after {} MiB",
            self.idle >> 20,
            self.peak >> 20,
            self.after >> 20
        );
    }
}

/// The resident memory of process `pid`, in bytes (`VmRSS` in `/proc/<pid>/status`).
fn resident_bytes(pid: u32) -> Option<u64> {
    let process = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?;
    let kibibytes = process.status().ok()?.vmrss?;
    Some(kibibytes * 1024)
}

#[test]
fn the_resident_memory_of_a_process_is_read_from_proc() {
    let bytes = resident_bytes(std::process::id()).expect("this process's resident memory");
    assert!((1 << 20..1 << 40).contains(&bytes), "{bytes} bytes");
    assert_eq!(resident_bytes(u32::MAX), None, "no such process");
}

/// Samples a process's resident memory every 50 ms until stopped; keeps the peak.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(bytes) = resident_bytes(pid) {
                        peak.fetch_max(bytes, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Sampler { stop, peak, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler ends");
        self.peak.load(Ordering::Relaxed)
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Puts `count` keys named after `label`; each must complete.
fn puts(runtime: &Runtime, client: &Client, label: &str, count: usize) {
    for index in 0..count {
        let key = format!("{label}-{index}");
        let command = Command::Put {
            key: Bytes::from(key.clone()),
            value: Bytes::from_static(b"v"),
        };
        runtime
            .block_on(client.execute::<KvStore>(&command))
            .unwrap_or_else(|error| panic!("put {key}: {error}"));
    }
}

/// Runs `flood` against replica `target` of a four-replica cluster of processes while a
/// client keeps putting, and checks the bounds every flood must respect. `flood` starts
/// the attack and returns what must be kept alive until the client is done; `check` looks
/// at it then, and says what is wrong, if anything.
fn under_flood<T>(
    name: &str,
    target: usize,
    flood: impl FnOnce(&Runtime, SocketAddr) -> T,
    check: impl FnOnce(&T) -> Option<String>,
) {
    let _serial = one_cluster_at_a_time();
    let mut cluster = ProcessCluster::init("kv", 4, 1, &[]);
    cluster.start_all();
    let runtime = runtime();
    let setup = ClientSetup::load(&cluster.client_config(0)).expect("client files");
    let mut config = setup.client_config().expect("client configuration");
    config.request_timeout = Duration::from_secs(30);
    let address = config.replica_addresses[target];
    let client = runtime
        .block_on(Client::connect(config, setup.key().expect("client key")))
        .expect("the client connects");
    puts(&runtime, &client, "warm-up", PUTS_AFTER);
    std::thread::sleep(Duration::from_millis(500));
    let pid = cluster.pid(target);
    let idle = resident_bytes(pid).expect("the replica's resident memory");

    let sampler = Sampler::start(pid);
    let attack = flood(&runtime, address);
    puts(&runtime, &client, "during", PUTS_DURING);
    let wrong = check(&attack);
    let peak = sampler.finish();
    drop(attack);
    std::thread::sleep(Duration::from_secs(1));
    puts(&runtime, &client, "after", PUTS_AFTER);
    let after = resident_bytes(pid).expect("the replica's resident memory");
    let figures = Figures { idle, peak, after };
    figures.print(name);
    runtime.block_on(client.close());
    cluster.assert_running();
    cluster.stop_all();

    for replica in 0..cluster.size() {
        let store = stores::open(cluster.dir(), &cluster.data_dir(replica), replica);
        let state = store.load().expect("the store loads");
        assert_eq!(
            state.view,
            View(0),
            "replica {replica} changed view during the flood; its log: {}",
            cluster.log(replica)
        );
    }
    assert_eq!(wrong, None, "{name}");
    assert!(
        figures.peak <= figures.idle + RESIDENT_GROWTH_MAX,
        "{name}: the attacked replica grew from {} MiB to {} MiB",
        figures.idle >> 20,
        figures.peak >> 20
    );
}

/// Connections that announce a 16 MiB frame, send 1 KiB of it and stall hold only what
/// arrived; the replica holds no more such connections than one address may have.
#[test]
fn stalled_16_mib_frames_cost_only_the_bytes_that_arrived() {
    under_flood(
        "stalled_16_mib_frames",
        0,
        |runtime, address| {
            runtime.block_on(async {
                let held = stranger::hold_connections(address, 200, 50, Duration::from_secs(10))
                    .await
                    .expect("the stranger sets up");
                let streams = held.announce_and_stall(16 << 20, 1024).await;
                // Give the replica time to read what was sent.
                tokio::time::sleep(Duration::from_secs(1)).await;
                (held, streams)
            })
        },
        |(held, streams)| {
            eprintln!(
                "stalled frames: {} connections completed, {} refused or ignored, {} streams \
                 stalled, {} still open",
                held.connections.len(),
                held.failed,
                streams.len(),
                held.open()
            );
            (held.open() > ConnectionLimits::default().connections_per_ip_max).then(|| {
                format!(
                    "the replica holds {} connections from one address",
                    held.open()
                )
            })
        },
    );
}

/// A flood of handshakes that never finish (only their first packet is ever sent) is
/// refused, retried or ignored beyond the caps, and the attacked backup stays in view 0.
#[test]
fn a_flood_of_half_open_handshakes_is_bounded() {
    under_flood(
        "half_open_handshakes",
        3,
        |_, address| {
            let sent = stranger::flood_initials(address, 20_000, 200, Duration::from_millis(10))
                .expect("the flood is sent");
            eprintln!("half-open handshakes: sent {sent} Initial packets");
            sent
        },
        |_| None,
    );
}

/// Many idle connections from one address: beyond the per-address cap they are refused.
#[test]
fn idle_connections_from_one_address_are_capped() {
    under_flood(
        "idle_connections",
        1,
        |runtime, address| {
            runtime
                .block_on(stranger::hold_connections(
                    address,
                    1_000,
                    100,
                    Duration::from_secs(10),
                ))
                .expect("the stranger sets up")
        },
        |held| {
            eprintln!(
                "idle connections: {} completed, {} refused or ignored, {} still open",
                held.connections.len(),
                held.failed,
                held.open()
            );
            (held.open() > ConnectionLimits::default().connections_per_ip_max).then(|| {
                format!(
                    "the replica holds {} connections from one address",
                    held.open()
                )
            })
        },
    );
}
