//! The fault-injection harness as an application's author uses it: an application of
//! one's own (a ticket dispenser, whose tickets must be unique and none lost) on real
//! replicas over QUIC and RocksDB, with a Byzantine primary, a slow replica, lossy links,
//! a partition and a restart, then with random faults round after round (the nemesis), and
//! the checks that say whether anything went wrong: the replicas' checkpoint digests agree,
//! the correct replicas converge, and the application's own invariant holds on what the
//! clients were told.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rampart_client::{Client, ClientConfig};
use rampart_replica::app::{Application, ApplyContext, StateMachine, Typed};
use rampart_replica::core::Rng;
use rampart_replica::message::{ClientId, ReplicaId, View};
use rampart_testkit::byzantine::{Equivocate, MakeBehaviour};
use rampart_testkit::real::{LISTED_CLIENTS_DEFAULT, LocalCluster, LocalClusterConfig};
use serde::{Deserialize, Serialize};

/// The application under test: hands out numbered tickets, one per command.
#[derive(Default, Serialize, Deserialize)]
struct Dispenser {
    issued: u64,
}

impl Application for Dispenser {
    type Command = ();
    type Output = u64; // the ticket
    type Query = ();
    type QueryOutput = u64; // how many were issued

    fn apply(&mut self, _context: &ApplyContext, _take: ()) -> u64 {
        self.issued += 1;
        self.issued
    }

    fn query(&self, _client: &ClientId, _query: ()) -> u64 {
        self.issued
    }
}

fn dispenser() -> Arc<dyn Fn() -> Box<dyn StateMachine> + Send + Sync> {
    Arc::new(|| Box::new(Typed::new(Dispenser::default())))
}

async fn client(cluster: &LocalCluster, index: u64) -> Client {
    let mut config = ClientConfig::new(cluster.cluster().clone(), cluster.client_addresses());
    config.request_timeout = Duration::from_secs(60);
    config.retransmit_interval_min = Duration::from_millis(200);
    Client::connect(config, cluster.client_key(index))
        .await
        .expect("client connects")
}

/// `clients` clients take `each` tickets apiece, concurrently; returns every ticket.
async fn take_tickets(
    cluster: &LocalCluster,
    first_client: u64,
    clients: u64,
    each: usize,
) -> Vec<u64> {
    let mut tasks = Vec::new();
    for index in first_client..first_client + clients {
        let client = client(cluster, index).await;
        tasks.push(tokio::spawn(async move {
            let mut tickets = Vec::with_capacity(each);
            for _ in 0..each {
                tickets.push(client.execute::<Dispenser>(&()).await.expect("a ticket"));
            }
            client.close().await;
            tickets
        }));
    }
    let mut tickets = Vec::new();
    for task in tasks {
        tickets.extend(task.await.expect("client task"));
    }
    tickets
}

/// Everything that must hold after a run: the harness's checks, then the application's.
async fn check(cluster: &LocalCluster, tickets: &[u64]) {
    let Some(executed) = cluster.wait_converged(Duration::from_secs(30)).await else {
        for replica in cluster.replica_ids() {
            eprintln!("{:?}", cluster.status(replica));
        }
        panic!("the correct replicas did not converge once the faults healed");
    };
    assert!(
        cluster.safety_violations().is_empty(),
        "checkpoint digests diverged: {:?}",
        cluster.safety_violations()
    );
    // The application's invariant: every acknowledged command ran exactly once, in one
    // order, so the tickets are exactly 1..=N with none repeated and none lost.
    let unique: BTreeSet<u64> = tickets.iter().copied().collect();
    assert_eq!(unique.len(), tickets.len(), "a ticket was handed out twice");
    let expected: BTreeSet<u64> = (1..=tickets.len() as u64).collect();
    assert_eq!(unique, expected, "tickets were lost or invented");
    // The last admitted client: one no writer uses.
    let reader = client(cluster, LISTED_CLIENTS_DEFAULT - 1).await;
    let issued = reader
        .query_typed::<Dispenser>(&())
        .await
        .expect("the count is readable");
    reader.close().await;
    assert_eq!(issued, tickets.len() as u64);
    assert!(executed.0 >= 1, "nothing was executed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byzantine_primary_a_slow_replica_and_lossy_links_lose_no_ticket() {
    let mut config = LocalClusterConfig::new(4, dispenser());
    let equivocate: MakeBehaviour = |_, _| Box::new(Equivocate);
    config.behaviours = BTreeMap::from([(ReplicaId(0), equivocate)]);
    let cluster = LocalCluster::start(config).await.expect("cluster starts");
    cluster.slow(ReplicaId(2), Duration::from_millis(15));
    cluster.set_loss(30);

    let tickets = take_tickets(&cluster, 0, 3, 25).await;
    cluster.heal();
    check(&cluster, &tickets).await;
    let status = cluster.status(ReplicaId(1)).expect("replica 1 runs");
    assert!(
        status.view > View(0),
        "the equivocating primary of view 0 was replaced"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_and_a_restarted_replica_catch_up_and_agree() {
    let mut config = LocalClusterConfig::new(4, dispenser());
    config.protocol = |protocol| {
        protocol.checkpoint_interval = 8;
        protocol.log_window = 16;
    };
    let mut cluster = LocalCluster::start(config).await.expect("cluster starts");

    // Replica 3 misses several checkpoints, so it must catch up by state transfer.
    cluster.isolate(ReplicaId(3));
    let mut tickets = take_tickets(&cluster, 0, 2, 20).await;
    let ahead = cluster.status(ReplicaId(0)).expect("running").last_executed;
    let behind = cluster.status(ReplicaId(3)).expect("running").last_executed;
    assert!(
        ahead.0 > behind.0 + 16,
        "replica 3 fell more than a log window behind ({behind:?} against {ahead:?})"
    );
    cluster.heal();

    // Replica 1 stops, the others go on without it, and it comes back from its disk.
    cluster.stop(ReplicaId(1)).await.expect("replica 1 stops");
    tickets.extend(take_tickets(&cluster, 2, 2, 10).await);
    cluster
        .restart(ReplicaId(1))
        .await
        .expect("replica 1 restarts");
    tickets.extend(take_tickets(&cluster, 4, 1, 10).await);

    check(&cluster, &tickets).await;
    cluster.shutdown().await;
}

/// Clients take tickets without pause while the nemesis crashes, stops, wipes, isolates,
/// partitions and slows one replica after another and drops datagrams; the seed picks the
/// faults (`RAMPART_NEMESIS_SEED`, and `RAMPART_NEMESIS_ROUNDS` for a longer soak).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_round_after_round_lose_no_ticket() {
    let setting = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let seed = setting("RAMPART_NEMESIS_SEED", 5);
    let rounds = setting("RAMPART_NEMESIS_ROUNDS", 10);
    let mut config = LocalClusterConfig::new(4, dispenser());
    config.seed = seed;
    config.protocol = |protocol| {
        protocol.checkpoint_interval = 8;
        protocol.log_window = 16;
    };
    let mut cluster = LocalCluster::start(config).await.expect("cluster starts");
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for index in 0..3 {
        let client = client(&cluster, index).await;
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut tickets = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                tickets.push(client.execute::<Dispenser>(&()).await.expect("a ticket"));
            }
            client.close().await;
            tickets
        }));
    }
    let mut rng = Rng::new(seed);
    for round in 0..rounds {
        let (fault, hold) = cluster.random_fault(&mut rng);
        println!("nemesis seed {seed}, round {round}: {fault} for {hold:?}");
        cluster
            .inject(&fault, hold)
            .await
            .unwrap_or_else(|error| panic!("seed {seed}, round {round}: {error}"));
    }
    stop.store(true, Ordering::Relaxed);
    let mut tickets = Vec::new();
    for task in tasks {
        tickets.extend(task.await.expect("client task"));
    }
    assert!(tickets.len() > 100, "only {} tickets taken", tickets.len());
    check(&cluster, &tickets).await;
    cluster.shutdown().await;
}
