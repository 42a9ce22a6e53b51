//! Step tests for the protocol core: one replica, inputs fed by hand, the actions it
//! returns checked one by one. Table-driven where a rule has many cases. No sockets, no
//! files: signatures are real, but made in memory.

use std::sync::Arc;

use bytes::Bytes;
use rampart_crypto::{ClusterId, Digest, KeyPair, Signable, Signed};

use super::checkpoint::CHECKPOINTS_PER_REPLICA_MAX;
use super::*;
use crate::cluster::{ClientAdmission, Cluster};
use crate::message::{
    Batch, Checkpoint, ClientId, Commit, Message, NewView, Payload, PrePrepare, Prepare, ReplicaId,
    Reply, Request, Seq, Status, Verified, View, ViewChange,
};

const CLUSTER: ClusterId = ClusterId(77);

struct Harness {
    keys: Vec<KeyPair>,
    client: KeyPair,
    config: Arc<Config>,
}

impl Harness {
    /// Most step tests check the committed path, so tentative execution is off unless a
    /// test asks for it ([`Harness::tentative`]).
    fn new(n: usize) -> Harness {
        let keys: Vec<KeyPair> = (0..n as u64).map(KeyPair::from_seed).collect();
        let cluster = Cluster::new(CLUSTER, keys.iter().map(|k| k.public_key()).collect())
            .expect("valid cluster");
        let config = Config {
            checkpoint_interval: 4,
            log_window: 8,
            batch_size_max: 4,
            view_change_timeout_ticks: 10,
            status_interval_ticks: 1_000,
            tentative_execution: false,
            clients: ClientAdmission::Open,
            ..Config::new(cluster)
        };
        Harness {
            keys,
            client: KeyPair::from_seed(1_000),
            config: Arc::new(config),
        }
    }

    /// With tentative execution (PBFT §5.1.2).
    fn tentative(n: usize) -> Harness {
        let mut h = Harness::new(n);
        Arc::make_mut(&mut h.config).tentative_execution = true;
        h
    }

    fn replica(&self, id: u32) -> Replica {
        Replica::new(self.config.clone(), ReplicaId(id), 0)
    }

    fn sign<T: Signable>(&self, signer: u32, value: T) -> Signed<T> {
        Signed::sign(CLUSTER, value, &self.keys[signer as usize]).expect("signs")
    }

    fn request(&self, number: u64) -> Signed<Request> {
        let request = Request {
            client: ClientId(self.client.public_key()),
            number,
            operation: Bytes::from(format!("op {number}")),
            read_only: false,
        };
        Signed::sign(CLUSTER, request, &self.client).expect("signs")
    }

    fn batch(&self, numbers: &[u64]) -> Arc<Batch> {
        Arc::new(Batch::new(
            numbers.iter().map(|&n| self.request(n)).collect(),
        ))
    }

    fn pre_prepare(&self, view: u64, seq: u64, batch: &Arc<Batch>) -> Message {
        let primary = View(view).primary(self.keys.len()).0;
        Message::PrePrepare {
            pre_prepare: self.sign(
                primary,
                PrePrepare {
                    view: View(view),
                    seq: Seq(seq),
                    digest: batch.digest(),
                },
            ),
            batch: batch.clone(),
        }
    }

    fn prepare(&self, from: u32, view: u64, seq: u64, digest: Digest) -> Message {
        Message::Prepare(self.sign(
            from,
            Prepare {
                view: View(view),
                seq: Seq(seq),
                digest,
                replica: ReplicaId(from),
            },
        ))
    }

    fn commit(&self, from: u32, view: u64, seq: u64, digest: Digest) -> Message {
        Message::Commit(self.sign(
            from,
            Commit {
                view: View(view),
                seq: Seq(seq),
                digest,
                replica: ReplicaId(from),
            },
        ))
    }

    fn checkpoint(&self, from: u32, seq: u64, digest: Digest) -> Message {
        Message::Checkpoint(self.sign(
            from,
            Checkpoint {
                seq: Seq(seq),
                state_digest: digest,
                replica: ReplicaId(from),
            },
        ))
    }
}

fn deliver(replica: &mut Replica, from: u32, message: Message) -> Vec<Action> {
    replica.handle(Input::Message {
        from: ReplicaId(from),
        message: Verified::assume_verified(message),
    })
}

/// Signs every payload the replica broadcast and hands it back, as the shell does.
fn loop_back(replica: &mut Replica, keys: &[KeyPair], actions: &[Action]) -> Vec<Action> {
    let id = replica.id();
    let mut more = Vec::new();
    for action in actions {
        if let Action::Broadcast(Outbound::Sign(payload)) = action {
            let message = payload
                .clone()
                .sign(CLUSTER, &keys[id.0 as usize])
                .expect("signs");
            more.extend(deliver(replica, id.0, message));
        }
    }
    more
}

fn broadcasts(actions: &[Action]) -> Vec<&Payload> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Broadcast(Outbound::Sign(payload)) => Some(payload),
            _ => None,
        })
        .collect()
}

fn executions(actions: &[Action]) -> Vec<&Execution> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Execute(execution) => Some(execution),
            _ => None,
        })
        .collect()
}

fn rejected(replica: &Replica, reason: Reject) -> u64 {
    replica.rejects().get(&reason).copied().unwrap_or(0)
}

#[test]
fn a_backup_accepts_a_valid_pre_prepare_and_prepares_it() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let batch = h.batch(&[1]);
    let actions = deliver(&mut backup, 0, h.pre_prepare(0, 1, &batch));
    // PBFT §4.2: the pre-prepare is made durable before the PREPARE leaves.
    let persist = actions.iter().position(|a| matches!(a, Action::Persist(_)));
    let prepare = actions.iter().position(|a| {
        matches!(a, Action::Broadcast(Outbound::Sign(Payload::Prepare(p))) if p.digest == batch.digest())
    });
    assert!(
        persist.is_some() && prepare.is_some() && persist < prepare,
        "{actions:?}"
    );
}

#[test]
fn pre_prepares_that_break_a_rule_are_refused_with_a_reason() {
    let h = Harness::new(4);
    let batch = h.batch(&[1]);
    let mut wrong_digest = h.pre_prepare(1, 1, &batch);
    if let Message::PrePrepare { batch: b, .. } = &mut wrong_digest {
        *b = h.batch(&[2]);
    }
    let read_only = {
        let mut request = h.request(3);
        request.value.read_only = true;
        let request = Signed::sign(CLUSTER, request.value, &h.client).expect("signs");
        Arc::new(Batch::new(vec![request]))
    };
    let cases: Vec<(&str, Message, Reject)> = vec![
        ("old view", h.pre_prepare(0, 1, &batch), Reject::OldView),
        (
            "future view",
            h.pre_prepare(2, 1, &batch),
            Reject::FutureView,
        ),
        (
            "above the high watermark",
            h.pre_prepare(1, 9, &batch),
            Reject::AboveHighWatermark,
        ),
        (
            "at the low watermark",
            h.pre_prepare(1, 0, &batch),
            Reject::BelowLowWatermark,
        ),
        ("digest of another batch", wrong_digest, Reject::WrongDigest),
        (
            "read-only request in a batch",
            h.pre_prepare(1, 1, &read_only),
            Reject::ReadOnlyInBatch,
        ),
    ];
    for (case, message, reason) in cases {
        // A backup in view 1 (the cases for view 0 are "old").
        let mut backup = h.replica(2);
        backup.view = View(1);
        let actions = deliver(&mut backup, 1, message);
        assert!(broadcasts(&actions).is_empty(), "{case}: {actions:?}");
        assert_eq!(
            rejected(&backup, reason),
            1,
            "{case}: {:?}",
            backup.rejects()
        );
    }
}

#[test]
fn an_equivocating_primary_is_caught_and_kept_as_evidence() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    deliver(&mut backup, 0, h.pre_prepare(0, 1, &h.batch(&[1])));
    let actions = deliver(&mut backup, 0, h.pre_prepare(0, 1, &h.batch(&[2])));
    assert_eq!(rejected(&backup, Reject::ConflictingPrePrepare), 1);
    assert_eq!(backup.evidence().against(ReplicaId(0)).len(), 1);
    assert!(actions.iter().any(|a| matches!(a, Action::Persist(ops) if ops.iter().any(|op| matches!(op, PersistOp::Evidence(_))))));
    // The first digest stays.
    let slot = backup.log().get(Seq(1)).expect("slot");
    assert_eq!(slot.round.digest(), Some(h.batch(&[1]).digest()));
}

#[test]
fn prepares_from_the_primary_and_conflicting_votes_are_refused() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let digest = h.batch(&[1]).digest();
    deliver(&mut backup, 0, h.prepare(0, 0, 1, digest));
    assert_eq!(rejected(&backup, Reject::PrepareFromPrimary), 1);
    deliver(&mut backup, 2, h.prepare(2, 0, 1, digest));
    deliver(&mut backup, 2, h.prepare(2, 0, 1, Digest::of(b"other")));
    assert_eq!(rejected(&backup, Reject::ConflictingMessage), 1);
    assert_eq!(backup.evidence().against(ReplicaId(2)).len(), 1);
    deliver(&mut backup, 2, h.prepare(2, 0, 1, digest));
    assert_eq!(rejected(&backup, Reject::Duplicate), 1);
}

/// Drives one replica through PRE-PREPARE, PREPARE and COMMIT for `seq`.
/// Backup 1 gets the PRE-PREPARE and two PREPAREs for `seq` in view 0: it has prepared.
fn prepare_slot(h: &Harness, replica: &mut Replica, seq: u64, batch: &Arc<Batch>) -> Vec<Action> {
    let digest = batch.digest();
    let mut all = Vec::new();
    let actions = deliver(replica, 0, h.pre_prepare(0, seq, batch));
    all.extend(loop_back(replica, &h.keys, &actions));
    all.extend(actions);
    for from in [2, 3] {
        let actions = deliver(replica, from, h.prepare(from, 0, seq, digest));
        all.extend(loop_back(replica, &h.keys, &actions));
        all.extend(actions);
    }
    all
}

fn commit_slot(h: &Harness, replica: &mut Replica, seq: u64, batch: &Arc<Batch>) -> Vec<Action> {
    let mut all = prepare_slot(h, replica, seq, batch);
    for from in [0, 2] {
        all.extend(deliver(
            replica,
            from,
            h.commit(from, 0, seq, batch.digest()),
        ));
    }
    all
}

#[test]
fn prepared_leads_to_commit_and_committed_to_execution() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let batch = h.batch(&[1, 2]);
    let actions = commit_slot(&h, &mut backup, 1, &batch);
    assert!(
        broadcasts(&actions)
            .iter()
            .any(|p| matches!(p, Payload::Commit(c) if c.seq == Seq(1)))
    );
    let executed = executions(&actions);
    assert_eq!(executed.len(), 1, "{actions:?}");
    assert_eq!(executed[0].seq, Seq(1));
    assert_eq!(executed[0].requests.len(), 2);
    assert_eq!(executed[0].digest, batch.digest());
}

#[test]
fn execution_is_strictly_in_sequence_order() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let second = commit_slot(&h, &mut backup, 2, &h.batch(&[2]));
    assert!(
        executions(&second).is_empty(),
        "sequence number 2 ran before 1"
    );
    let first = commit_slot(&h, &mut backup, 1, &h.batch(&[1]));
    assert_eq!(executions(&first).len(), 1);
    let next = backup.handle(Input::Executed {
        seq: Seq(1),
        results: vec![Bytes::from_static(b"r1")],
        app_digest: None,
    });
    let executed = executions(&next);
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0].seq, Seq(2));
}

#[test]
fn retransmissions_are_answered_from_the_reply_cache_and_executed_once() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    commit_slot(&h, &mut backup, 1, &h.batch(&[1]));
    backup.handle(Input::Executed {
        seq: Seq(1),
        results: vec![Bytes::from_static(b"result")],
        app_digest: None,
    });
    let actions = backup.handle(Input::Request(Verified::assume_verified(h.request(1))));
    let replies: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(reply) => Some(reply),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].result, Bytes::from_static(b"result"));
    assert_eq!(replies[0].seq, Seq(1));
    // The same request ordered again at a later sequence number is not executed again.
    let again = commit_slot(&h, &mut backup, 2, &h.batch(&[1]));
    let executed = executions(&again);
    assert_eq!(executed.len(), 1);
    assert!(executed[0].requests.is_empty());
}

#[test]
fn a_backup_forwards_retransmitted_requests_to_the_primary_and_times_them() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let forwarded = |actions: &[Action]| {
        actions.iter().any(|a| {
            matches!(
                a,
                Action::Send {
                    to: ReplicaId(0),
                    message: Outbound::Relay(Message::Request(_))
                }
            )
        })
    };
    // Clients send every request to every replica, the primary included.
    let actions = backup.handle(Input::Request(Verified::assume_verified(h.request(1))));
    assert!(!forwarded(&actions), "{actions:?}");
    // A retransmission means the primary may have missed it.
    let actions = backup.handle(Input::Request(Verified::assume_verified(h.request(1))));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Send {
            to: ReplicaId(0),
            message: Outbound::Relay(Message::Request(_))
        }
    )));
    // PBFT §4.5.2: when the timer expires, the backup starts a view change to view 1.
    let mut view_change = None;
    for _ in 0..h.config.view_change_timeout_ticks {
        let actions = backup.handle(Input::Tick);
        view_change = view_change.or(broadcasts(&actions).into_iter().find_map(|p| match p {
            Payload::ViewChange { view_change, .. } => Some(view_change.clone()),
            _ => None,
        }));
    }
    let view_change = view_change.expect("a VIEW-CHANGE after the timeout");
    assert_eq!(view_change.new_view, View(1));
    assert!(!backup.is_normal());
}

/// The pre-prepares (sequence number, batch size) a primary sends for requests 1 to
/// `count`, arriving one by one, with `pipeline_batch_min` set as given.
fn batches_for(count: u64, pipeline_batch_min: usize) -> Vec<(Seq, usize)> {
    let mut h = Harness::new(4);
    let mut config = (*h.config).clone();
    config.pipeline_batch_min = pipeline_batch_min;
    h.config = Arc::new(config);
    let mut primary = h.replica(0);
    let mut pre_prepares = Vec::new();
    for number in 1..=count {
        let actions = primary.handle(Input::Request(Verified::assume_verified(h.request(number))));
        for payload in broadcasts(&actions) {
            if let Payload::PrePrepare { pre_prepare, batch } = payload {
                pre_prepares.push((pre_prepare.seq, batch.len()));
            }
        }
    }
    pre_prepares
}

#[test]
fn the_primary_pipelines_batches_without_waiting_for_commits() {
    // batch_delay_ticks is 0 and any waiting request is worth a batch: each request goes
    // out at once, at the next sequence number, while the earlier ones are in flight.
    assert_eq!(
        batches_for(6, 1),
        (1..=6).map(|s| (Seq(s), 1)).collect::<Vec<_>>()
    );
}

#[test]
fn under_load_requests_gather_into_a_batch_while_one_is_in_flight() {
    // The first request goes out alone (nothing in flight); the next ones wait for a
    // batch of 4 (the batch maximum here) rather than each taking a slot of the pipeline.
    assert_eq!(
        batches_for(9, 64),
        vec![(Seq(1), 1), (Seq(2), 4), (Seq(3), 4)]
    );
}

#[test]
fn a_quorum_of_checkpoints_makes_it_stable_and_collects_garbage() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    for seq in 1..=4 {
        commit_slot(&h, &mut backup, seq, &h.batch(&[seq]));
        let app_digest = (seq == 4).then(|| Digest::of(b"app"));
        let actions = backup.handle(Input::Executed {
            seq: Seq(seq),
            results: vec![Bytes::new()],
            app_digest,
        });
        if seq == 4 {
            assert!(
                actions
                    .iter()
                    .any(|a| matches!(a, Action::StoreCheckpoint { seq: Seq(4), .. }))
            );
            loop_back(&mut backup, &h.keys, &actions);
        }
    }
    let digest = checkpoint_digest(Seq(4), Digest::of(b"app"), backup.client_table());
    assert_eq!(backup.log().len(), 4);
    deliver(&mut backup, 2, h.checkpoint(2, 4, digest));
    // Two matching (own and r2) are not a quorum of three.
    assert_eq!(backup.stable_checkpoint().seq, Seq(0));
    let actions = deliver(&mut backup, 3, h.checkpoint(3, 4, digest));
    assert_eq!(backup.stable_checkpoint().seq, Seq(4));
    assert_eq!(
        backup.log().len(),
        0,
        "the log below the stable checkpoint is discarded"
    );
    assert!(actions.iter().any(|a| matches!(a, Action::Persist(ops) if ops.contains(&PersistOp::PruneBelow { seq: Seq(4) }))));
    // Checkpoints off the interval are refused.
    deliver(&mut backup, 3, h.checkpoint(3, 6, digest));
    assert_eq!(rejected(&backup, Reject::NotCheckpointBoundary), 1);
}

#[test]
fn a_replica_behind_the_stable_checkpoint_fetches_and_checks_the_state() {
    let h = Harness::new(4);
    let mut lagging = h.replica(3);
    let table = ClientTable::default();
    let digest = checkpoint_digest(Seq(4), Digest::of(b"app"), &table);
    for from in [0, 1] {
        deliver(&mut lagging, from, h.checkpoint(from, 4, digest));
    }
    let actions = deliver(&mut lagging, 2, h.checkpoint(2, 4, digest));
    let fetch = actions.iter().find_map(|a| match a {
        Action::FetchState {
            seq,
            state_digest,
            from,
        } => Some((*seq, *state_digest, from.clone())),
        _ => None,
    });
    let (seq, state_digest, sources) = fetch.expect("a state fetch");
    assert_eq!((seq, state_digest), (Seq(4), digest));
    assert_eq!(sources.len(), 3);
    // A state that does not match the digest a quorum signed is refused and asked again.
    let actions = lagging.handle(Input::StateFetched {
        seq: Seq(4),
        from: sources[0],
        app_digest: Digest::of(b"forged"),
        client_table: table.clone(),
    });
    assert_eq!(rejected(&lagging, Reject::StateDigestMismatch), 1);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::FetchState { .. }))
    );
    let actions = lagging.handle(Input::StateFetched {
        seq: Seq(4),
        from: sources[1],
        app_digest: Digest::of(b"app"),
        client_table: table,
    });
    assert!(actions.contains(&Action::InstallState {
        seq: Seq(4),
        state_digest: digest
    }));
    assert_eq!(lagging.last_executed(), Seq(4));
    assert!(!lagging.is_transferring());
}

/// The ticks until `replica` broadcasts a VIEW-CHANGE, if it does within `ticks`.
fn ticks_until_view_change(replica: &mut Replica, ticks: u64) -> Option<u64> {
    (1..=ticks).find(|_| {
        let actions = replica.handle(Input::Tick);
        broadcasts(&actions)
            .iter()
            .any(|p| matches!(p, Payload::ViewChange { .. }))
    })
}

#[test]
fn a_replica_fetching_state_does_not_blame_the_primary_for_its_own_lag() {
    let h = Harness::new(4);
    let mut lagging = h.replica(3);
    lagging.handle(Input::Request(Verified::assume_verified(h.request(1))));
    let table = ClientTable::default();
    let digest = checkpoint_digest(Seq(4), Digest::of(b"app"), &table);
    for from in [0, 1, 2] {
        deliver(&mut lagging, from, h.checkpoint(from, 4, digest));
    }
    assert!(lagging.is_transferring());
    // The request waits only because this replica is behind a checkpoint 2f+1 replicas
    // signed: the view is making progress, so its request timer does not fire.
    let timeout = h.config.view_change_timeout_ticks;
    assert_eq!(ticks_until_view_change(&mut lagging, 3 * timeout), None);
    assert!(lagging.is_normal());
    // Once the state is in, the timer runs again in full for what still waits.
    let sources: Vec<ReplicaId> = (0..3).map(ReplicaId).collect();
    let mut installed = false;
    for from in sources {
        let actions = lagging.handle(Input::StateFetched {
            seq: Seq(4),
            from,
            app_digest: Digest::of(b"app"),
            client_table: table.clone(),
        });
        installed |= actions
            .iter()
            .any(|a| matches!(a, Action::InstallState { .. }));
        if installed {
            break;
        }
    }
    assert!(installed && !lagging.is_transferring());
    let fired = ticks_until_view_change(&mut lagging, 2 * timeout).expect("the timer runs again");
    assert!(
        fired >= timeout,
        "a full timeout after the install, not {fired} ticks"
    );
    let counts = lagging.view_change_counts();
    assert_eq!(
        counts
            .started
            .get(&crate::core::ViewChangeCause::RequestTimeout),
        Some(&1)
    );
    assert_eq!((counts.started_total(), counts.completed), (1, 0));
}

fn view_change_message(h: &Harness, from: u32, view: u64) -> Message {
    let view_change = ViewChange {
        new_view: View(view),
        replica: ReplicaId(from),
        checkpoint: crate::message::CheckpointCertificate::genesis(),
        prepared: Vec::new(),
    };
    Message::ViewChange {
        view_change: h.sign(from, view_change),
        batches: Vec::new(),
    }
}

#[test]
fn f_plus_one_view_changes_make_a_replica_join_the_higher_view() {
    let h = Harness::new(4);
    let mut replica = h.replica(3);
    deliver(&mut replica, 1, view_change_message(&h, 1, 1));
    assert!(
        replica.is_normal(),
        "one VIEW-CHANGE could come from a faulty replica"
    );
    let actions = deliver(&mut replica, 2, view_change_message(&h, 2, 1));
    assert!(!replica.is_normal());
    assert_eq!(replica.view(), View(1));
    assert!(broadcasts(&actions).iter().any(
        |p| matches!(p, Payload::ViewChange { view_change, .. } if view_change.new_view == View(1))
    ));
    let started = &replica.view_change_counts().started;
    assert_eq!(
        started.get(&crate::core::ViewChangeCause::PeersMovedOn),
        Some(&1)
    );
}

/// Runs ticks until the replica's view-change timer moves it to the next view, handing its
/// new VIEW-CHANGE back signed; returns every action, or `None` if it did not move within
/// `ticks`.
fn tick_into_next_view(h: &Harness, replica: &mut Replica, ticks: u64) -> Option<Vec<Action>> {
    let view = replica.view();
    let mut all = Vec::new();
    for _ in 0..ticks {
        let actions = replica.handle(Input::Tick);
        let more = loop_back(replica, &h.keys, &actions);
        all.extend(actions);
        all.extend(more);
        if replica.view() > view {
            return Some(all);
        }
    }
    None
}

/// What the shell makes durable of `actions` by replica `id`.
fn persist_into(persisted: &mut PersistedState, h: &Harness, id: u32, actions: &[Action]) {
    let n = h.keys.len();
    for action in actions {
        match action {
            Action::Persist(ops) => ops.iter().for_each(|op| persisted.apply(op, n)),
            Action::Broadcast(Outbound::Sign(payload)) => {
                let message = payload
                    .clone()
                    .sign(CLUSTER, &h.keys[id as usize])
                    .expect("signs");
                persisted.insert_message(&message, n);
            }
            _ => {}
        }
    }
}

/// The VIEW-CHANGEs a replica relays to `to`, as (author, view).
fn relayed_view_changes(actions: &[Action], to: u32) -> Vec<(ReplicaId, View)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send {
                to: target,
                message: Outbound::Relay(Message::ViewChange { view_change, .. }),
            } if *target == ReplicaId(to) => {
                Some((view_change.value.replica, view_change.value.new_view))
            }
            _ => None,
        })
        .collect()
}

/// PBFT's liveness needs a VIEW-CHANGE retransmitted until it arrives, even one for a view
/// its author has left. Replica 0 reaches a quorum for view 1, times out alone into view 2;
/// replica 1 never got replica 0's VIEW-CHANGE for view 1, so it holds two of the three it
/// needs and cannot even start its timer. Told so by a STATUS, replica 0 sends the one for
/// view 1 as well as the one for view 2, and still does after a restart.
#[test]
fn a_replica_that_left_a_view_unfinished_still_sends_its_view_change_for_it() {
    let h = Harness::new(4);
    let mut replica = h.replica(0);
    let mut persisted = PersistedState::default();
    for from in [1, 2] {
        let actions = deliver(&mut replica, from, view_change_message(&h, from, 1));
        let more = loop_back(&mut replica, &h.keys, &actions);
        persist_into(&mut persisted, &h, 0, &actions);
        persist_into(&mut persisted, &h, 0, &more);
    }
    assert_eq!((replica.view(), replica.is_normal()), (View(1), false));
    let timeout = h.config.view_change_timeout_ticks;
    let actions = tick_into_next_view(&h, &mut replica, 4 * timeout).expect("the timer runs out");
    persist_into(&mut persisted, &h, 0, &actions);
    assert_eq!(replica.view(), View(2));

    let waiting_from = |peer: u32, view: u64| {
        let status = Status {
            replica: ReplicaId(peer),
            view: View(view),
            normal: false,
            last_executed: Seq(0),
            stable_seq: Seq(0),
        };
        Message::Status(h.sign(peer, status))
    };
    let waiting = |view: u64| waiting_from(1, view);
    let both = vec![(ReplicaId(0), View(1)), (ReplicaId(0), View(2))];
    let actions = deliver(&mut replica, 1, waiting(1));
    assert_eq!(relayed_view_changes(&actions, 1), both);
    // A peer already in view 2 needs only the current one.
    let actions = deliver(&mut replica, 2, waiting_from(2, 2));
    assert_eq!(
        relayed_view_changes(&actions, 2),
        vec![(ReplicaId(0), View(2))]
    );

    let (mut recovered, _) = Replica::recover(
        h.config.clone(),
        ReplicaId(0),
        0,
        &persisted,
        Restored::default(),
    );
    assert_eq!((recovered.view(), recovered.is_normal()), (View(2), false));
    let actions = deliver(&mut recovered, 1, waiting(1));
    assert_eq!(relayed_view_changes(&actions, 1), both);
}

#[test]
fn the_new_primary_sends_new_view_and_backups_check_it() {
    let h = Harness::new(4);
    let mut new_primary = h.replica(1);
    let mut actions = Vec::new();
    for from in [2, 3] {
        actions.extend(deliver(
            &mut new_primary,
            from,
            view_change_message(&h, from, 1),
        ));
    }
    // Having joined, its own VIEW-CHANGE comes back signed, completing the quorum.
    let more = loop_back(&mut new_primary, &h.keys, &actions);
    let new_view = broadcasts(&more)
        .into_iter()
        .find_map(|p| match p {
            Payload::NewView { .. } => Some(p.clone()),
            _ => None,
        })
        .expect("a NEW-VIEW");
    let signed = new_view.sign(CLUSTER, &h.keys[1]).expect("signs");

    // A backup in view change to view 1 accepts it.
    let mut backup = h.replica(2);
    deliver(&mut backup, 1, view_change_message(&h, 1, 1));
    deliver(&mut backup, 3, view_change_message(&h, 3, 1));
    assert!(!backup.is_normal());
    deliver(&mut backup, 1, signed.clone());
    assert!(backup.is_normal());
    assert_eq!(backup.view(), View(1));

    // A NEW-VIEW whose O does not follow from its VIEW-CHANGEs is refused.
    let Message::NewView { new_view, batches } = signed else {
        unreachable!()
    };
    let mut forged = new_view.value.clone();
    forged.pre_prepares.push(h.sign(
        1,
        PrePrepare {
            view: View(1),
            seq: Seq(1),
            digest: Digest::of(b"invented"),
        },
    ));
    let forged = Message::NewView {
        new_view: h.sign::<NewView>(1, forged),
        batches,
    };
    let mut other = h.replica(3);
    deliver(&mut other, 1, view_change_message(&h, 1, 1));
    deliver(&mut other, 2, view_change_message(&h, 2, 1));
    deliver(&mut other, 1, forged);
    assert_eq!(rejected(&other, Reject::NewViewMismatch), 1);
    assert!(!other.is_normal());
}

/// The store keeps every CHECKPOINT accepted above the stable one, also those a running
/// replica had already let go of beyond its bound per sender; a restart must apply the
/// bound again rather than hold them all.
#[test]
fn a_recovered_replica_keeps_no_more_checkpoints_per_sender_than_a_running_one() {
    let h = Harness::new(4);
    let mut persisted = PersistedState::default();
    let sent = CHECKPOINTS_PER_REPLICA_MAX as u64 + 3;
    for index in 1..=sent {
        let seq = index * h.config.checkpoint_interval;
        let checkpoint = h.checkpoint(2, seq, Digest::of(&seq.to_le_bytes()));
        persisted.insert_message(&checkpoint, 4);
    }
    let (recovered, _) = Replica::recover(
        h.config.clone(),
        ReplicaId(1),
        0,
        &persisted,
        Restored::default(),
    );
    let held: Vec<Seq> = recovered
        .checkpoints
        .votes
        .iter()
        .filter(|(_, by_replica)| by_replica.contains_key(&ReplicaId(2)))
        .map(|(seq, _)| *seq)
        .collect();
    let newest: Vec<Seq> = (sent + 1 - CHECKPOINTS_PER_REPLICA_MAX as u64..=sent)
        .map(|index| Seq(index * h.config.checkpoint_interval))
        .collect();
    assert_eq!(held, newest);
}

#[test]
fn a_recovered_replica_resumes_without_contradicting_itself() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let mut persisted = PersistedState::default();
    let batch = h.batch(&[1]);
    let actions = deliver(&mut backup, 0, h.pre_prepare(0, 1, &batch));
    persist_into(&mut persisted, &h, 1, &actions);
    let (recovered, actions) = Replica::recover(
        h.config.clone(),
        ReplicaId(1),
        0,
        &persisted,
        Restored::default(),
    );
    // The prepare it had sent is known; nothing new or different is sent for slot 1.
    let slot = recovered.log().get(Seq(1)).expect("slot restored");
    assert!(slot.round.prepare_sent);
    assert_eq!(slot.round.digest(), Some(batch.digest()));
    assert!(broadcasts(&actions).is_empty(), "{actions:?}");
}

/// Peers' PREPAREs are persisted only inside the prepared certificate (`persist.rs`): a
/// replica restarted after preparing must still commit on its peers' COMMITs alone,
/// without waiting for the PREPAREs to be resent.
#[test]
fn a_replica_restarted_after_preparing_commits_without_its_peers_prepares_resent() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let mut persisted = PersistedState::default();
    let batch = h.batch(&[1]);
    let digest = batch.digest();
    let actions = deliver(&mut backup, 0, h.pre_prepare(0, 1, &batch));
    persist_into(&mut persisted, &h, 1, &actions);
    for from in [2, 3] {
        let actions = deliver(&mut backup, from, h.prepare(from, 0, 1, digest));
        persist_into(&mut persisted, &h, 1, &actions);
    }
    assert!(backup.log().get(Seq(1)).expect("slot").prepared.is_some());

    let (mut recovered, _) = Replica::recover(
        h.config.clone(),
        ReplicaId(1),
        0,
        &persisted,
        Restored::default(),
    );
    let mut actions = Vec::new();
    for from in [0, 2] {
        actions.extend(deliver(&mut recovered, from, h.commit(from, 0, 1, digest)));
    }
    let own_commit = h.commit(1, 0, 1, digest);
    actions.extend(deliver(&mut recovered, 1, own_commit));
    let executed = executions(&actions);
    assert_eq!(executed.len(), 1, "{actions:?}");
    assert_eq!(executed[0].seq, Seq(1));
}

// Tentative execution (PBFT §5.1.2).

fn replies(actions: &[Action]) -> Vec<&Reply> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Reply(reply) => Some(reply),
            _ => None,
        })
        .collect()
}

fn committed(actions: &[Action]) -> Vec<(Seq, Digest, &Vec<Reply>)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Committed {
                seq,
                digest,
                replies,
            } => Some((*seq, *digest, replies)),
            _ => None,
        })
        .collect()
}

/// Replicas 0 and 2 COMMIT `seq` in view 0; with the replica's own COMMIT, a quorum.
fn peers_commit(h: &Harness, replica: &mut Replica, seq: u64, digest: Digest) -> Vec<Action> {
    let mut actions = Vec::new();
    for from in [0, 2] {
        actions.extend(deliver(replica, from, h.commit(from, 0, seq, digest)));
    }
    let own = loop_back(replica, &h.keys, &actions);
    actions.extend(own);
    actions
}

fn report(replica: &mut Replica, seq: u64, results: &[&'static [u8]]) -> Vec<Action> {
    replica.handle(Input::Executed {
        seq: Seq(seq),
        results: results.iter().map(|r| Bytes::from_static(r)).collect(),
        app_digest: None,
    })
}

#[test]
fn a_prepared_batch_runs_tentatively_and_its_commit_makes_it_final() {
    let h = Harness::tentative(4);
    let mut backup = h.replica(1);
    let batch = h.batch(&[1]);
    let actions = prepare_slot(&h, &mut backup, 1, &batch);
    let executed = executions(&actions);
    assert_eq!(executed.len(), 1, "{actions:?}");
    assert!(executed[0].tentative && !executed[0].checkpoint);
    assert_eq!(executed[0].seq, Seq(1));

    let actions = report(&mut backup, 1, &[b"r1"]);
    let sent = replies(&actions);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].tentative);
    assert_eq!((sent[0].view, sent[0].seq), (View(0), Seq(1)));
    assert!(backup.has_tentative_execution());
    assert_eq!(backup.last_executed(), Seq(0), "not committed yet");
    // Not in the reply cache before it commits: a retransmission is not answered from it.
    let retransmitted = backup.handle(Input::Request(Verified::assume_verified(h.request(1))));
    assert!(replies(&retransmitted).is_empty(), "{retransmitted:?}");

    let actions = peers_commit(&h, &mut backup, 1, batch.digest());
    assert!(executions(&actions).is_empty(), "ran twice: {actions:?}");
    let done = committed(&actions);
    assert_eq!(done.len(), 1, "{actions:?}");
    assert_eq!((done[0].0, done[0].1), (Seq(1), batch.digest()));
    assert!(
        done[0]
            .2
            .iter()
            .all(|r| !r.tentative && r.result == b"r1"[..])
    );
    assert_eq!(backup.last_executed(), Seq(1));
    assert!(!backup.has_tentative_execution());
    let retransmitted = backup.handle(Input::Request(Verified::assume_verified(h.request(1))));
    assert_eq!(replies(&retransmitted).len(), 1, "answered from the cache");
}

#[test]
fn only_the_batch_after_the_committed_ones_runs_ahead() {
    let h = Harness::tentative(4);
    let mut backup = h.replica(1);
    let first = h.batch(&[1]);
    let second = h.batch(&[2]);
    prepare_slot(&h, &mut backup, 1, &first);
    report(&mut backup, 1, &[b"r1"]);
    let actions = prepare_slot(&h, &mut backup, 2, &second);
    assert!(
        executions(&actions).is_empty(),
        "2 ran ahead of an uncommitted 1: {actions:?}"
    );
    // Once 1 commits, 2 (prepared) runs tentatively in turn.
    let actions = peers_commit(&h, &mut backup, 1, first.digest());
    assert_eq!(committed(&actions).len(), 1);
    let executed = executions(&actions);
    assert_eq!(executed.len(), 1, "{actions:?}");
    assert_eq!(executed[0].seq, Seq(2));
    assert!(executed[0].tentative);
}

#[test]
fn nothing_runs_ahead_at_a_checkpoint_or_with_tentative_execution_off() {
    // The checkpoint interval is 4: the snapshot at 4 must be of committed state.
    let h = Harness::tentative(4);
    let mut backup = h.replica(1);
    for seq in 1..=3 {
        commit_slot(&h, &mut backup, seq, &h.batch(&[seq]));
        report(&mut backup, seq, &[b"r"]);
    }
    assert_eq!(backup.last_executed(), Seq(3));
    let actions = prepare_slot(&h, &mut backup, 4, &h.batch(&[4]));
    assert!(executions(&actions).is_empty(), "{actions:?}");

    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let actions = prepare_slot(&h, &mut backup, 1, &h.batch(&[1]));
    assert!(executions(&actions).is_empty(), "{actions:?}");
}

#[test]
fn a_tentative_batch_that_commits_with_another_digest_is_rolled_back() {
    let h = Harness::tentative(4);
    let mut backup = h.replica(1);
    let ran = h.batch(&[1]);
    prepare_slot(&h, &mut backup, 1, &ran);
    report(&mut backup, 1, &[b"r1"]);
    // A quorum committed another batch at 1 in view 1 (more than f faulty replicas, or a
    // view change that dropped this one's batch): the tentative state must go.
    let other = h.batch(&[2]);
    let commits = [0, 2, 3]
        .into_iter()
        .map(|from| match h.commit(from, 1, 1, other.digest()) {
            Message::Commit(commit) => commit,
            _ => unreachable!(),
        })
        .collect();
    let certificate = crate::message::CommitCertificate {
        commits,
        batch: other.clone(),
    };
    let actions = deliver(&mut backup, 0, Message::CommitCertificate(certificate));
    assert!(
        actions.iter().any(|a| matches!(a, Action::Rollback)),
        "{actions:?}"
    );
    assert!(executions(&actions).is_empty());
    assert!(committed(&actions).is_empty());
    // The replica executes nothing more until the shell rebuilds it from durable state.
    let later = commit_slot(&h, &mut backup, 2, &h.batch(&[3]));
    assert!(executions(&later).is_empty(), "{later:?}");
}

mod batch_fetch;
mod cluster_position;
mod monitor;
mod reads;
mod requests;
mod storage_bounds;
