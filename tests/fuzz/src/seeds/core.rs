//! Seeds for the protocol core target: runs through agreement, view changes and state
//! transfer.

use super::Seed;
use crate::targets::core::{HEADER_AUTO_EXECUTE, HEADER_TENTATIVE, Op};

/// Ops that take batch `batch` through sequence number `seq` of `view` at a backup: the
/// PRE-PREPARE, the PREPAREs and the COMMITs of the other replicas.
fn agreement(ops: &mut Vec<Op>, view: u8, seq: u8, batch: u8) {
    let primary = view % 4;
    ops.push(Op::PrePrepare {
        from: primary,
        view,
        seq,
        batch,
        digest: 0,
    });
    for replica in 0..4 {
        if replica != primary {
            ops.push(Op::Prepare {
                replica,
                view,
                seq,
                digest: batch,
            });
        }
        ops.push(Op::Commit {
            replica,
            view,
            seq,
            digest: batch,
        });
    }
}

pub(super) fn core() -> Vec<Seed> {
    let write = |header: u8, ops: &[Op]| {
        let mut bytes = vec![header];
        for op in ops {
            op.write(&mut bytes);
        }
        bytes
    };
    // The normal case to the first stable checkpoint, at backup 1.
    let mut normal = vec![
        Op::Request {
            client: 0,
            number: 0,
            via: 0,
        },
        Op::Request {
            client: 1,
            number: 0,
            via: 2,
        },
    ];
    for (seq, batch) in [(1, 1), (2, 2), (3, 3), (4, 0)] {
        agreement(&mut normal, 0, seq, batch);
    }
    normal.extend((0..4).map(|replica| Op::Checkpoint {
        replica,
        seq: 1,
        digest: 0,
    }));
    normal.push(Op::Tick { ticks: 7 });
    normal.push(Op::Request {
        client: 0,
        number: 0x80,
        via: 0,
    });

    // The primary of view 0 orders what clients send it.
    let mut primary = vec![
        Op::Request {
            client: 0,
            number: 0,
            via: 0,
        },
        Op::Request {
            client: 1,
            number: 0,
            via: 0,
        },
        Op::Tick { ticks: 1 },
    ];
    primary.extend((1..4).map(|replica| Op::Prepare {
        replica,
        view: 0,
        seq: 1,
        digest: 1,
    }));
    primary.extend((1..4).map(|replica| Op::Commit {
        replica,
        view: 0,
        seq: 1,
        digest: 1,
    }));

    // A silent primary: the backups time out, change views, and replica 1 leads view 1.
    let mut view_change = vec![Op::Request {
        client: 0,
        number: 0,
        via: 0,
    }];
    agreement(&mut view_change, 0, 1, 1);
    view_change.extend([Op::Tick { ticks: 7 }, Op::Tick { ticks: 7 }]);
    view_change.extend((0..4).map(|replica| Op::ViewChange {
        replica,
        new_view: 1,
        checkpoint: 0,
        prepared: [1, 2, 2],
    }));
    view_change.push(Op::NewView {
        view: 1,
        absent: 0,
        checkpoint: 0,
        prepared: [[1, 2, 2]; 3],
    });
    agreement(&mut view_change, 1, 3, 3);
    view_change.push(Op::Status {
        replica: 3,
        view: 1,
        executed: 2,
    });

    // A replica left behind: commit certificates, then a stable checkpoint it lacks.
    let mut behind: Vec<Op> = (1..=4)
        .map(|seq| Op::CommitCertificate {
            view: 0,
            seq,
            batch: seq % 4,
        })
        .collect();
    behind.extend((0..3).map(|replica| Op::Checkpoint {
        replica,
        seq: 2,
        digest: 1,
    }));
    behind.extend([
        Op::State { from: 0, kind: 0 },
        Op::State { from: 1, kind: 1 },
        Op::Batch {
            from: 2,
            batch: 1,
            fetched: 1,
        },
        Op::Batch {
            from: 2,
            batch: 2,
            fetched: 0,
        },
        Op::Tick { ticks: 7 },
    ]);
    vec![
        (
            "normal-case".into(),
            write(1 | HEADER_AUTO_EXECUTE, &normal),
        ),
        (
            "normal-case-tentative".into(),
            write(1 | HEADER_AUTO_EXECUTE | HEADER_TENTATIVE, &normal),
        ),
        ("normal-case-explicit-execute".into(), {
            // The shell reports each execution once the last COMMIT is in.
            let ops: Vec<Op> = normal
                .iter()
                .flat_map(|&op| match op {
                    Op::Commit { replica: 3, .. } => vec![op, Op::Execute],
                    _ => vec![op],
                })
                .collect();
            write(1, &ops)
        }),
        ("primary".into(), write(HEADER_AUTO_EXECUTE, &primary)),
        (
            "view-change".into(),
            write(2 | HEADER_AUTO_EXECUTE, &view_change),
        ),
        (
            "view-change-new-primary".into(),
            write(1 | HEADER_AUTO_EXECUTE, &view_change),
        ),
        (
            "state-transfer".into(),
            write(3 | HEADER_AUTO_EXECUTE, &behind),
        ),
    ]
}
