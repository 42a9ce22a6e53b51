//! The fetcher against peers served by [`answer`]: honest, silent, lacking the state, or
//! corrupting what they serve.

use std::collections::BTreeMap;
use std::convert::Infallible;

use super::*;
use crate::core::checkpoint_digest;
use crate::fault::StateService;
use crate::transfer::{StateHolder, answer};

const CHUNK_BYTES: u32 = 16;
const TIMEOUT: u64 = 10;

/// One peer's checkpoint states.
#[derive(Default)]
struct Peer {
    states: BTreeMap<Seq, Vec<u8>>,
    service: Option<StateService>,
    /// How many more requests it answers, if limited.
    answers_left: Option<usize>,
}

impl StateHolder for Peer {
    type Error = Infallible;

    fn manifest(&self, seq: Seq) -> Result<Option<(Manifest, ClientTable)>, Infallible> {
        Ok(self
            .states
            .get(&seq)
            .map(|bytes| (Manifest::of(bytes, CHUNK_BYTES), ClientTable::default())))
    }

    fn chunk(&self, seq: Seq, index: u32) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.states.get(&seq).and_then(|bytes| {
            Manifest::of(bytes, CHUNK_BYTES)
                .chunk_of(bytes, index)
                .map(<[u8]>::to_vec)
        }))
    }
}

/// Pseudo-random bytes, so that no two chunks are alike.
fn snapshot(len: usize, salt: u8) -> Vec<u8> {
    let mut x = u64::from(salt) + 1;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

fn target(seq: u64, bytes: &[u8]) -> Target {
    let root = Manifest::of(bytes, CHUNK_BYTES).root();
    Target {
        seq: Seq(seq),
        state_digest: checkpoint_digest(Seq(seq), root, &ClientTable::default()),
    }
}

/// Replica 3 fetching from replicas 0, 1 and 2, with the network delivering every request
/// and answer at once, unless the peer is silent.
struct Run {
    fetcher: Fetcher,
    peers: BTreeMap<ReplicaId, Peer>,
    /// The chunks the fetcher's driver keeps, by digest.
    held: BTreeMap<Digest, Bytes>,
    now: u64,
    completed: Option<Complete>,
    /// Every request sent, in order.
    sent: Vec<(ReplicaId, StateFrame)>,
}

impl Run {
    fn new(state: &[u8], seq: u64) -> Run {
        let peers = (0..3)
            .map(|r| {
                let mut peer = Peer::default();
                peer.states.insert(Seq(seq), state.to_vec());
                (ReplicaId(r), peer)
            })
            .collect();
        let settings = FetchSettings {
            chunk_bytes: CHUNK_BYTES,
            request_timeout_ticks: TIMEOUT,
            requests_per_source_max: 2,
        };
        Run {
            fetcher: Fetcher::new(ReplicaId(3), settings),
            peers,
            held: BTreeMap::new(),
            now: 0,
            completed: None,
            sent: Vec::new(),
        }
    }

    fn sources() -> Vec<ReplicaId> {
        (0..3).map(ReplicaId).collect()
    }

    fn start(&mut self, target: Target) {
        let step = self.fetcher.start(target, Run::sources(), self.now);
        self.carry_out(step);
    }

    /// Delivers requests and answers until nothing is in flight.
    fn carry_out(&mut self, step: Step) {
        let mut pending = vec![step];
        while let Some(step) = pending.pop() {
            if let Some(chunk) = step.chunk {
                self.held.insert(chunk.digest(), chunk.data().clone());
            }
            if let Some(complete) = step.complete {
                self.completed = Some(complete);
            }
            for (to, request) in step.requests {
                self.sent.push((to, request.clone()));
                let peer = self.peers.get_mut(&to).expect("a peer");
                match peer.answers_left {
                    Some(0) => continue,
                    Some(left) => peer.answers_left = Some(left - 1),
                    None => {}
                }
                let peer = &self.peers[&to];
                let service = peer.service.unwrap_or(StateService::Honest);
                let Ok(answered) = answer(peer, &request, service);
                let Some(answered) = answered else {
                    continue;
                };
                let held = &self.held;
                let next = self
                    .fetcher
                    .on_response(to, answered, self.now, |digest| held.contains_key(digest));
                pending.push(next);
            }
        }
    }

    fn tick(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.now += 1;
            let step = self.fetcher.on_tick(self.now);
            self.carry_out(step);
        }
    }

    fn chunk_requests_to(&self, replica: ReplicaId) -> usize {
        self.sent
            .iter()
            .filter(|(to, frame)| {
                *to == replica && matches!(frame, StateFrame::ChunkRequest { .. })
            })
            .count()
    }

    /// The fetched snapshot, put together from the held chunks by the manifest.
    fn assemble(&self, state: &[u8]) -> Vec<u8> {
        let manifest = Manifest::of(state, CHUNK_BYTES);
        manifest
            .chunk_digests()
            .iter()
            .flat_map(|digest| self.held[digest].to_vec())
            .collect()
    }
}

#[test]
fn the_state_arrives_in_chunks_from_every_source_and_is_complete_once_all_check_out() {
    let state = snapshot(200, 1);
    let mut run = Run::new(&state, 8);
    run.start(target(8, &state));
    let complete = run.completed.clone().expect("complete");
    assert_eq!(complete.seq, Seq(8));
    assert_eq!(
        complete.app_digest,
        Manifest::of(&state, CHUNK_BYTES).root()
    );
    assert_eq!(run.assemble(&state), state);
    let stats = run.fetcher.stats();
    assert_eq!(stats.chunks_received, 13);
    assert_eq!(stats.bytes_received, 200);
    assert_eq!((stats.chunks_refused, stats.chunks_refetched), (0, 0));
    assert_eq!(stats.fetches_completed, 1);
    for source in Run::sources() {
        assert!(run.chunk_requests_to(source) > 0, "{source} was not asked");
    }
}

/// PBFT §5.3.2 with TOCS §6.2's digests per partition: a bad chunk is caught when it
/// arrives, fetched again from another replica, and its sender is counted and asked no
/// more while others can serve.
#[test]
fn a_corrupt_chunk_is_fetched_again_from_another_replica_and_its_sender_is_avoided() {
    let state = snapshot(400, 2);
    let mut run = Run::new(&state, 8);
    let liar = ReplicaId(1);
    run.peers.get_mut(&liar).expect("peer").service =
        Some(StateService::CorruptChunks { one_in: 1 });
    run.start(target(8, &state));
    assert!(
        run.completed.is_some(),
        "a corrupt source does not stop the transfer"
    );
    assert_eq!(run.assemble(&state), state);
    let stats = run.fetcher.stats();
    assert!(stats.chunks_refused >= 1);
    assert_eq!(stats.chunks_refetched, stats.chunks_refused);
    assert_eq!(
        stats.faults_by_source.get(&liar),
        Some(&stats.chunks_refused)
    );
    // Only the requests outstanding when its first bad chunk arrived went to the liar.
    assert!(run.chunk_requests_to(liar) <= 2);
    assert_eq!(stats.chunks_received, 25);
}

#[test]
fn a_manifest_that_does_not_match_the_signed_digest_is_refused_and_asked_elsewhere() {
    let state = snapshot(100, 3);
    let mut run = Run::new(&state, 8);
    run.peers.get_mut(&ReplicaId(0)).expect("peer").service = Some(StateService::Corrupt);
    run.start(target(8, &state));
    assert!(run.completed.is_some());
    let stats = run.fetcher.stats();
    assert_eq!(stats.manifests_refused, 1);
    assert_eq!(stats.faults_by_source.get(&ReplicaId(0)), Some(&1));
    assert_eq!(run.chunk_requests_to(ReplicaId(0)), 0);
    assert_eq!(run.assemble(&state), state);
}

#[test]
fn a_silent_source_is_replaced_after_the_timeout_and_then_asked_one_request_at_a_time() {
    let state = snapshot(300, 4);
    let mut run = Run::new(&state, 8);
    let silent = ReplicaId(2);
    run.peers.get_mut(&silent).expect("peer").service = Some(StateService::Silent);
    run.start(target(8, &state));
    for _ in 0..10 {
        if run.completed.is_some() {
            break;
        }
        run.tick(TIMEOUT);
    }
    assert!(run.completed.is_some());
    assert_eq!(run.assemble(&state), state);
    let stats = run.fetcher.stats();
    assert!(stats.requests_timed_out >= 1);
    assert!(stats.faults_by_source.is_empty(), "slow is not faulty");
    assert!(run.chunk_requests_to(silent) <= 2 + 2);
}

#[test]
fn a_source_without_the_state_is_passed_over() {
    let state = snapshot(100, 5);
    let mut run = Run::new(&state, 8);
    run.peers
        .get_mut(&ReplicaId(0))
        .expect("peer")
        .states
        .clear();
    run.start(target(8, &state));
    assert!(run.completed.is_some());
    assert!(run.fetcher.stats().faults_by_source.is_empty());
    assert_eq!(run.chunk_requests_to(ReplicaId(0)), 0);
}

/// When a newer checkpoint becomes stable mid-transfer, only the chunks that differ from
/// what is already held are fetched.
#[test]
fn when_the_target_moves_only_the_chunks_that_changed_are_fetched() {
    let old = snapshot(320, 6);
    let mut new = old.clone();
    new[5] ^= 1;
    new[300] ^= 1;
    new.extend_from_slice(&[9; 10]);
    let mut run = Run::new(&old, 8);
    for peer in run.peers.values_mut() {
        peer.states.insert(Seq(16), new.clone());
        peer.answers_left = Some(4);
    }
    // The manifest and eleven chunks of the old state arrive, then the sources fall silent
    // while the target moves.
    run.start(target(8, &old));
    assert!(run.completed.is_none());
    let fetched_before = run.fetcher.stats().chunks_received;
    assert_eq!(fetched_before, 11);
    let new_manifest = Manifest::of(&new, CHUNK_BYTES);
    let kept = new_manifest
        .chunk_digests()
        .iter()
        .filter(|digest| run.held.contains_key(digest))
        .count() as u64;
    assert!(kept >= 9, "at most two of the chunks held changed");
    for peer in run.peers.values_mut() {
        peer.answers_left = None;
    }
    run.start(target(16, &new));
    let complete = run.completed.clone().expect("the new target completes");
    assert_eq!(complete.seq, Seq(16));
    assert_eq!(run.assemble(&new), new);
    let stats = run.fetcher.stats();
    assert_eq!(stats.chunks_reused, kept);
    assert_eq!(
        stats.chunks_received - fetched_before,
        u64::from(new_manifest.chunk_count()) - kept
    );
    assert_eq!(stats.fetches_started, 2);
}

#[test]
fn asked_again_for_the_same_target_the_fetch_goes_on_where_it_was() {
    let state = snapshot(200, 7);
    let mut run = Run::new(&state, 8);
    for peer in run.peers.values_mut() {
        peer.service = Some(StateService::Silent);
    }
    run.start(target(8, &state));
    run.tick(TIMEOUT);
    assert!(run.completed.is_none());
    for peer in run.peers.values_mut() {
        peer.service = None;
    }
    run.start(target(8, &state));
    assert!(run.completed.is_some());
    assert_eq!(run.fetcher.stats().fetches_started, 1);
    assert_eq!(run.assemble(&state), state);
}

#[test]
fn answers_about_another_state_or_from_unasked_replicas_are_ignored() {
    let state = snapshot(64, 8);
    let mut run = Run::new(&state, 8);
    for peer in run.peers.values_mut() {
        peer.service = Some(StateService::Silent);
    }
    run.start(target(8, &state));
    let stray = StateFrame::Chunk {
        seq: Seq(8),
        index: 0,
        data: Bytes::from_static(b"not asked for"),
    };
    let step = run.fetcher.on_response(ReplicaId(1), stray, 0, |_| false);
    assert_eq!(step, Step::default());
    let other = StateFrame::Unavailable { seq: Seq(16) };
    assert_eq!(
        run.fetcher.on_response(ReplicaId(0), other, 0, |_| false),
        Step::default()
    );
    assert!(run.fetcher.stats().faults_by_source.is_empty());
}

#[test]
fn chunks_alike_are_fetched_once() {
    let state = vec![0; 160];
    let mut run = Run::new(&state, 8);
    run.start(target(8, &state));
    assert!(run.completed.is_some());
    assert_eq!(run.fetcher.stats().chunks_received, 1);
    assert_eq!(run.assemble(&state), state);
}

/// A request that timed out went to another source, but the first source's answer comes
/// after all: it is taken, and the other answer is ignored.
#[test]
fn a_late_answer_is_taken_and_the_second_one_ignored() {
    let state = snapshot(48, 9);
    let manifest = Manifest::of(&state, CHUNK_BYTES);
    let settings = FetchSettings {
        chunk_bytes: CHUNK_BYTES,
        request_timeout_ticks: TIMEOUT,
        requests_per_source_max: 2,
    };
    let mut fetcher = Fetcher::new(ReplicaId(3), settings);
    let sources: Vec<ReplicaId> = (0..3).map(ReplicaId).collect();
    fetcher.start(target(8, &state), sources, 0);
    let answer_manifest = StateFrame::Manifest {
        seq: Seq(8),
        manifest: manifest.clone(),
        client_table: ClientTable::default(),
    };
    let step = fetcher.on_response(ReplicaId(0), answer_manifest, 0, |_| false);
    let asked: BTreeMap<u32, ReplicaId> = step
        .requests
        .iter()
        .map(|(to, frame)| match frame {
            StateFrame::ChunkRequest { index, .. } => (*index, *to),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(asked.len(), 3);
    let chunk = |index: u32| StateFrame::Chunk {
        seq: Seq(8),
        index,
        data: Bytes::copy_from_slice(manifest.chunk_of(&state, index).expect("in range")),
    };
    for index in [0, 2] {
        let step = fetcher.on_response(asked[&index], chunk(index), 1, |_| false);
        assert!(step.chunk.is_some());
    }
    let slow = asked[&1];
    let step = fetcher.on_tick(TIMEOUT + 1);
    let (again, _) = step.requests.first().expect("asked of another source");
    assert_ne!(*again, slow);
    let late = fetcher.on_response(slow, chunk(1), TIMEOUT + 2, |_| false);
    assert!(late.chunk.is_some() && late.complete.is_some());
    let second = fetcher.on_response(*again, chunk(1), TIMEOUT + 3, |_| false);
    assert_eq!(second, Step::default());
    let stats = fetcher.stats();
    assert_eq!((stats.chunks_received, stats.chunks_refetched), (3, 1));
    assert_eq!(stats.requests_timed_out, 1);
}
