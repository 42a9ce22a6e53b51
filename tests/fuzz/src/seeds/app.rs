//! Seeds for the applications' operations.

use bytes::Bytes;
use rampart_replica::app::encode_command;
use rampart_replica::apps::interlock::{self, Interlock};
use rampart_replica::apps::kv::{self, KvStore};
use rampart_replica::message::encode;

use super::Seed;
use crate::targets::app;

pub(super) fn app_operations() -> Vec<Seed> {
    let step = |out: &mut Vec<u8>, kind: u8, client: u8, bytes: &[u8]| {
        out.push(kind | client << 2);
        out.extend((bytes.len() as u16).to_le_bytes());
        out.extend(bytes);
    };
    let bytes = |text: &str| Bytes::copy_from_slice(text.as_bytes());
    let mut kv = vec![0];
    for command in [
        kv::Command::Put {
            key: bytes("a"),
            value: bytes("1"),
        },
        kv::Command::CompareAndSwap {
            key: bytes("a"),
            expected: Some(bytes("1")),
            new: None,
        },
        kv::Command::Get { key: bytes("a") },
        kv::Command::Delete { key: bytes("b") },
    ] {
        step(
            &mut kv,
            app::STEP_APPLY,
            0,
            &encode_command::<KvStore>(&command),
        );
    }
    let query = encode(
        &rampart_replica::app::Operation::<kv::Command, kv::Query>::Query(kv::Query::Get {
            key: bytes("a"),
        }),
    );
    step(&mut kv, app::STEP_QUERY, 0, &query);
    step(&mut kv, app::STEP_RESTORE, 0, &encode(&KvStore::new()));

    let mut interlock = vec![1];
    for agent in 0..6 {
        let vote = interlock::Command::Vote {
            unit: "reactor-1".into(),
            round: 0,
            choice: interlock::Choice::Shutdown,
            confidence_percent: 90,
        };
        step(
            &mut interlock,
            app::STEP_APPLY,
            agent,
            &encode_command::<Interlock>(&vote),
        );
    }
    let reset = interlock::Command::Reset {
        unit: "reactor-1".into(),
        round: 0,
    };
    step(
        &mut interlock,
        app::STEP_APPLY,
        1,
        &encode_command::<Interlock>(&reset),
    );
    let status = encode(&rampart_replica::app::Operation::<
        interlock::Command,
        interlock::Query,
    >::Query(interlock::Query::Status {
        unit: "reactor-1".into(),
    }));
    step(&mut interlock, app::STEP_QUERY, 7, &status);
    step(
        &mut interlock,
        app::STEP_RESTORE,
        0,
        &encode(&app::interlock()),
    );
    vec![("kv".into(), kv), ("interlock".into(), interlock)]
}
