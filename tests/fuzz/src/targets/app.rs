//! The applications' decoders (`replica/protocol/src/app/`, `replica/protocol/src/apps/`): a request's
//! operation is a client's bytes, decoded by every replica's application, and a snapshot
//! arrives from peers by state transfer. Both must be refused with an error when they do
//! not decode, leave the state consistent, and keep the application deterministic.
//!
//! Input: a byte choosing the application (the key-value store or the interlock), then
//! steps: a byte (what to do, and as which client) and a u16-prefixed operation or
//! snapshot.

use std::sync::OnceLock;

use rampart_crypto::KeyPair;
use rampart_replica::app::{ApplyContext, StateMachine, Typed};
use rampart_replica::apps::interlock::{Interlock, Policy};
use rampart_replica::apps::kv::KvStore;
use rampart_replica::message::{ClientId, Seq};

use crate::{Choices, Outcome};

/// Seven registered agents (keys 2000..2007), and one more client that is not registered.
pub fn agents() -> &'static [ClientId; 8] {
    static AGENTS: OnceLock<[ClientId; 8]> = OnceLock::new();
    AGENTS.get_or_init(|| {
        std::array::from_fn(|i| ClientId(KeyPair::from_seed(2_000 + i as u64).public_key()))
    })
}

pub fn interlock() -> Interlock {
    let policy = Policy {
        registered_agents: agents()[..7].iter().copied().collect(),
        units: ["reactor-1".to_string(), "valve-2".to_string()].into(),
        shutdown_quorum: 5,
        faulty_agents_tolerated: 2,
        min_confidence_percent: 60,
    };
    Interlock::new(policy).expect("a valid policy")
}

/// The steps of an input.
pub const STEP_APPLY: u8 = 0;
pub const STEP_QUERY: u8 = 1;
pub const STEP_RESTORE: u8 = 2;

pub fn run(data: &[u8]) -> Outcome {
    let mut choices = Choices::new(data);
    if choices.flag() {
        steps(
            &mut choices,
            || Typed::new(interlock()),
            |app| {
                if let Err(error) = app.app().check() {
                    panic!("the interlock state is inconsistent: {error:?}");
                }
            },
        )
    } else {
        steps(&mut choices, || Typed::new(KvStore::new()), |_| ())
    }
}

fn steps<S: StateMachine>(
    choices: &mut Choices<'_>,
    genesis: impl Fn() -> S,
    check: impl Fn(&S),
) -> Outcome {
    let mut app = genesis();
    let mut outcome = Outcome::Accepted;
    let mut seq = 0;
    while !choices.is_empty() {
        let step = choices.byte();
        let client = agents()[usize::from(step >> 2) % 8];
        let bytes = choices.slice();
        match step & 3 {
            STEP_APPLY => {
                seq += 1;
                let context = ApplyContext {
                    client,
                    request_number: seq,
                    seq: Seq(seq),
                };
                app.apply(&context, bytes);
            }
            STEP_QUERY => {
                let before = app.snapshot();
                let answer = app.query(&client, bytes);
                assert_eq!(app.snapshot(), before, "a query changed the state");
                assert_eq!(
                    app.query(&client, bytes),
                    answer,
                    "a query is not deterministic"
                );
            }
            _ => {
                let before = app.snapshot();
                match app.restore(bytes) {
                    Ok(()) => {
                        let mut other = genesis();
                        other.restore(&app.snapshot()).expect("a snapshot restores");
                        assert_eq!(other.snapshot(), app.snapshot(), "restore is not exact");
                    }
                    Err(_) => {
                        assert_eq!(app.snapshot(), before, "a failed restore changed the state");
                        outcome = Outcome::Refused;
                    }
                }
            }
        }
        check(&app);
    }
    outcome
}
