//! `transfer/`: manifests and chunks from peers, fed to the fetching side ([`Fetcher`]),
//! and requests from peers, answered by the serving side ([`answer`]).
//!
//! Input: a byte choosing which chunks the fetcher holds already, then steps: a tick, a
//! frame from a replica (a byte for the sender, a u16-prefixed encoding), or a restart
//! of the fetch. The fetch targets a small snapshot whose manifest is known here, so a
//! seed that answers honestly reaches every phase.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::OnceLock;

use bytes::Bytes;
use rampart_crypto::Digest;
use rampart_replica::core::{ClientTable, checkpoint_digest};
use rampart_replica::fault::StateService;
use rampart_replica::message::{ClientId, ReplicaId, RequestKey, Seq};
use rampart_replica::transfer::{
    FetchSettings, Fetcher, Manifest, StateFrame, StateHolder, Step, Target, answer, chunk_digest,
};

use super::decoded;
use crate::fixture::fixture;
use crate::{Choices, Outcome};

/// The chunk size of the fixture's snapshot.
pub const CHUNK_BYTES: u32 = 64;

/// The state being fetched: checkpoint 8 of a 200-byte snapshot in four chunks.
#[derive(Debug)]
pub struct Fixture {
    pub snapshot: Vec<u8>,
    pub manifest: Manifest,
    pub client_table: ClientTable,
    pub target: Target,
}

pub fn state() -> &'static Fixture {
    static STATE: OnceLock<Fixture> = OnceLock::new();
    STATE.get_or_init(|| {
        let snapshot: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
        let manifest = Manifest::of(&snapshot, CHUNK_BYTES);
        let mut client_table = ClientTable::default();
        let client: ClientId = fixture().client_id(0);
        client_table.record(
            RequestKey { client, number: 1 },
            Seq(3),
            Bytes::from_static(b"ok"),
            4,
        );
        let seq = Seq(8);
        let target = Target {
            seq,
            state_digest: checkpoint_digest(seq, manifest.root(), &client_table),
        };
        Fixture {
            snapshot,
            manifest,
            client_table,
            target,
        }
    })
}

impl StateHolder for Fixture {
    type Error = Infallible;

    fn manifest(&self, seq: Seq) -> Result<Option<(Manifest, ClientTable)>, Infallible> {
        Ok((seq == self.target.seq).then(|| (self.manifest.clone(), self.client_table.clone())))
    }

    fn chunk(&self, seq: Seq, index: u32) -> Result<Option<Vec<u8>>, Infallible> {
        Ok((seq == self.target.seq)
            .then(|| self.manifest.chunk_of(&self.snapshot, index))
            .flatten()
            .map(<[u8]>::to_vec))
    }
}

pub fn settings() -> FetchSettings {
    FetchSettings {
        chunk_bytes: CHUNK_BYTES,
        request_timeout_ticks: 3,
        requests_per_source_max: 2,
    }
}

pub const SOURCES: [u32; 3] = [1, 2, 3];

/// The steps of an input.
pub const STEP_TICK: u8 = 0;
pub const STEP_FRAME: u8 = 1;
pub const STEP_RESTART: u8 = 2;
const STEP_KINDS: u8 = 3;

/// Checks a state frame as far as it can be checked on its own.
pub(crate) fn check_state_frame(frame: &StateFrame, chunk_bytes: u32) -> Outcome {
    frame.is_request();
    match frame {
        StateFrame::Manifest {
            manifest,
            client_table,
            seq,
        } => {
            manifest.root();
            client_table.digest();
            manifest.matches(*seq, client_table, Digest::default());
            for index in [0, 1, manifest.chunk_count(), u32::MAX] {
                manifest.chunk_range(index);
                manifest.chunk_digest(index);
            }
            super::outcome(manifest.check(chunk_bytes))
        }
        _ => Outcome::Accepted,
    }
}

pub fn run(data: &[u8]) -> Outcome {
    let state = state();
    let mut choices = Choices::new(data);
    let held_mask = choices.byte();
    let held: BTreeSet<Digest> = state
        .manifest
        .chunk_digests()
        .iter()
        .enumerate()
        .filter(|(index, _)| held_mask & (1 << index) != 0)
        .map(|(_, digest)| *digest)
        .collect();
    let mut fetcher = Fetcher::new(ReplicaId(0), settings());
    let mut now = 0;
    let sources = || SOURCES.iter().map(|&r| ReplicaId(r)).collect();
    let mut complete = false;
    check_step(&fetcher.start(state.target, sources(), now), &mut complete);
    let mut outcome = Outcome::Accepted;
    while !choices.is_empty() {
        let step = match choices.below(STEP_KINDS) {
            STEP_TICK => {
                now += u64::from(choices.below(4)) + 1;
                fetcher.on_tick(now)
            }
            STEP_FRAME => {
                let from = ReplicaId(u32::from(choices.below(5)));
                let Some(frame) = decoded::<StateFrame>("state frame", choices.slice()) else {
                    outcome = Outcome::Refused;
                    continue;
                };
                check_state_frame(&frame, CHUNK_BYTES);
                if frame.is_request() {
                    let service = match choices.below(3) {
                        0 => StateService::Honest,
                        1 => StateService::Corrupt,
                        _ => StateService::CorruptChunks { one_in: 2 },
                    };
                    let Ok(answered) = answer(state, &frame, service);
                    if let Some(answered) = answered {
                        assert!(!answered.is_request(), "a request answered with a request");
                    }
                }
                fetcher.on_response(from, frame, now, |digest| held.contains(digest))
            }
            _ => {
                if complete {
                    fetcher.stop();
                    complete = false;
                }
                fetcher.start(state.target, sources(), now)
            }
        };
        check_step(&step, &mut complete);
        fetcher.stats();
    }
    outcome
}

/// What the fetcher hands on must be what the manifest promised.
fn check_step(step: &Step, complete: &mut bool) {
    let state = state();
    for (to, request) in &step.requests {
        assert!(SOURCES.contains(&to.0), "a request to {to}, not a source");
        assert!(request.is_request(), "the fetcher sent {request:?}");
    }
    if let Some((seq, manifest)) = &step.manifest {
        assert_eq!(*seq, state.target.seq);
        assert_eq!(manifest, &state.manifest, "a manifest that does not match");
    }
    if let Some(chunk) = &step.chunk {
        assert_eq!(
            state.manifest.chunk_digest(chunk.index()),
            Some(chunk.digest())
        );
        assert_eq!(chunk_digest(chunk.data()), chunk.digest());
    }
    if let Some(done) = &step.complete {
        assert_eq!(done.seq, state.target.seq);
        assert_eq!(done.app_digest, state.manifest.root());
        assert_eq!(done.client_table, state.client_table);
        *complete = true;
    }
}
