//! Step tests for the transfer deadline: progress moves it, silence does not.

use std::sync::Arc;

use rampart_crypto::{ClusterId, Digest, KeyPair, Signed};

use super::super::{Action, ClientTable, Config, Input, Replica, checkpoint_digest};
use crate::cluster::Cluster;
use crate::message::{Checkpoint, Message, ReplicaId, Seq, Verified};

const CLUSTER: ClusterId = ClusterId(78);
const TIMEOUT: u64 = 50;

struct Cluster4 {
    keys: Vec<KeyPair>,
    config: Arc<Config>,
}

impl Cluster4 {
    fn new() -> Cluster4 {
        let keys: Vec<KeyPair> = (0..4).map(KeyPair::from_seed).collect();
        let cluster = Cluster::new(CLUSTER, keys.iter().map(|k| k.public_key()).collect())
            .expect("valid cluster");
        let config = Config {
            checkpoint_interval: 4,
            log_window: 8,
            view_change_timeout_ticks: 10_000,
            status_interval_ticks: 10_000,
            state_transfer_timeout_ticks: TIMEOUT,
            ..Config::new(cluster)
        };
        Cluster4 {
            keys,
            config: Arc::new(config),
        }
    }

    /// CHECKPOINTs from replicas 0, 1 and 2 for `seq`: a stable checkpoint replica 3 has
    /// not reached. Returns the actions of the last one.
    fn stabilize(&self, lagging: &mut Replica, seq: u64) -> Vec<Action> {
        let digest = state_digest(seq);
        let mut actions = Vec::new();
        for from in 0..3u32 {
            let checkpoint = Checkpoint {
                seq: Seq(seq),
                state_digest: digest,
                replica: ReplicaId(from),
            };
            let signed =
                Signed::sign(CLUSTER, checkpoint, &self.keys[from as usize]).expect("signs");
            actions = lagging.handle(Input::Message {
                from: ReplicaId(from),
                message: Verified::assume_verified(Message::Checkpoint(signed)),
            });
        }
        actions
    }
}

fn state_digest(seq: u64) -> Digest {
    checkpoint_digest(
        Seq(seq),
        Digest::of(&seq.to_le_bytes()),
        &ClientTable::default(),
    )
}

fn fetches(actions: &[Action]) -> Vec<Seq> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::FetchState { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect()
}

/// Ticks `ticks` times; returns the sequence numbers of the fetches asked for meanwhile.
fn tick(replica: &mut Replica, ticks: u64) -> Vec<Seq> {
    (0..ticks)
        .flat_map(|_| fetches(&replica.handle(Input::Tick)))
        .collect()
}

#[test]
fn progress_moves_the_transfer_deadline() {
    let cluster = Cluster4::new();
    let mut lagging = Replica::new(cluster.config.clone(), ReplicaId(3), 0);
    assert_eq!(fetches(&cluster.stabilize(&mut lagging, 4)), [Seq(4)]);
    // Parts keep arriving, each just before the deadline: the fetch is never restarted,
    // however long the whole takes.
    for _ in 0..10 {
        assert_eq!(tick(&mut lagging, TIMEOUT - 1), []);
        lagging.handle(Input::StateProgress { seq: Seq(4) });
    }
    assert!(lagging.is_transferring());
    // Progress on another state does not count.
    lagging.handle(Input::StateProgress { seq: Seq(8) });
    // Without progress, the core asks again once the deadline passes.
    assert_eq!(tick(&mut lagging, TIMEOUT), [Seq(4)]);
}

#[test]
fn a_newer_stable_checkpoint_mid_transfer_becomes_the_target() {
    let cluster = Cluster4::new();
    let mut lagging = Replica::new(cluster.config.clone(), ReplicaId(3), 0);
    assert_eq!(fetches(&cluster.stabilize(&mut lagging, 4)), [Seq(4)]);
    let actions = cluster.stabilize(&mut lagging, 8);
    let asked = actions.iter().find_map(|action| match action {
        Action::FetchState {
            seq, state_digest, ..
        } => Some((*seq, *state_digest)),
        _ => None,
    });
    assert_eq!(asked, Some((Seq(8), state_digest(8))));
    // The older state is of no use any more.
    let stale = lagging.handle(Input::StateFetched {
        seq: Seq(4),
        from: ReplicaId(0),
        app_digest: Digest::of(&4u64.to_le_bytes()),
        client_table: ClientTable::default(),
    });
    assert!(stale.is_empty());
    let installed = lagging.handle(Input::StateFetched {
        seq: Seq(8),
        from: ReplicaId(1),
        app_digest: Digest::of(&8u64.to_le_bytes()),
        client_table: ClientTable::default(),
    });
    assert!(installed.contains(&Action::InstallState {
        seq: Seq(8),
        state_digest: state_digest(8)
    }));
    assert_eq!(lagging.last_executed(), Seq(8));
}
