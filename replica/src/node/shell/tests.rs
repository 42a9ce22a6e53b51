//! The shell's rollback of a tentative execution, on a real store and transport.

use std::net::{Ipv4Addr, SocketAddr};

use crate::app::{AppError, ApplyContext};
use crate::cluster::Cluster;
use crate::core::Config;
use crate::message::{ClientId, CommitCertificate, View, decode};
use crate::net::TransportConfig;
use crate::store::fixture;

use super::*;

/// An application that keeps every operation it applied, in order.
#[derive(Default)]
struct Journal(Vec<Vec<u8>>);

impl StateMachine for Journal {
    fn apply(&mut self, _: &ApplyContext, operation: &[u8]) -> Vec<u8> {
        self.0.push(operation.to_vec());
        operation.to_vec()
    }

    fn query(&self, _: &ClientId, _: &[u8]) -> Vec<u8> {
        encode(&self.0)
    }

    fn snapshot(&self) -> Vec<u8> {
        encode(&self.0)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), AppError> {
        self.0 = decode("journal", snapshot).map_err(|error| AppError::UndecodableSnapshot {
            reason: error.to_string(),
        })?;
        Ok(())
    }
}

fn operations(batch: &crate::message::Batch) -> Vec<Vec<u8>> {
    batch
        .requests
        .iter()
        .map(|r| r.value.operation.to_vec())
        .collect()
}

#[tokio::test]
async fn a_tentative_execution_that_commits_otherwise_is_rolled_back_to_durable_state() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cluster = Cluster::new(
        fixture::CLUSTER,
        (0..4).map(|r| fixture::key(r).public_key()).collect(),
    )
    .expect("valid cluster");
    let config = Config {
        tentative_execution: true,
        ..Config::new(cluster.clone())
    };
    let id = ReplicaId(1);
    let key = fixture::key(1);
    let store = Store::open(dir.path(), &fixture::identity(1), fixture::unsynced(), 4)
        .expect("store opens");
    // The peers are never reached: the test hands the replica their messages itself.
    let unreachable = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let (transport, _inbound) = ReplicaTransport::start(
        id,
        &key,
        &cluster,
        TransportConfig::new(listen, vec![unreachable; 4]),
    )
    .await
    .expect("transport starts");
    let (status, watch) = watch::channel(NodeStatus::default());
    let app = Journal::default();
    let genesis = Some(app.snapshot());
    let mut shell = Shell::new(
        id,
        Replica::new(Arc::new(config), id, 0),
        Box::new(app),
        store,
        Arc::new(key),
        Arc::new(transport),
        None,
        status,
        0,
        Arc::new(Progress::default()),
        genesis,
    );
    let deliver = |shell: &mut Shell, from: u32, message: Message| {
        shell
            .feed(Input::Message {
                from: ReplicaId(from),
                message: Verified::assume_verified(message),
            })
            .expect("the round is carried out");
        shell.flush().expect("the round is made durable");
    };

    // Sequence number 1 prepares with batch A, which runs ahead of its commit.
    let ran = fixture::batch(1, 8);
    deliver(
        &mut shell,
        0,
        fixture::pre_prepare(View(0), Seq(1), ran.clone()),
    );
    for from in [2, 3] {
        deliver(
            &mut shell,
            from,
            fixture::prepare(View(0), Seq(1), ran.digest(), from),
        );
    }
    assert!(shell.core.has_tentative_execution());
    assert_eq!(
        decode::<Vec<Vec<u8>>>("journal", &shell.app.snapshot()).ok(),
        Some(operations(&ran))
    );

    // A quorum committed batch B at 1 instead (after a view change this replica missed).
    let committed = fixture::batch(2, 4);
    let commits = [0, 2, 3]
        .into_iter()
        .map(
            |from| match fixture::commit(View(1), Seq(1), committed.digest(), from) {
                Message::Commit(commit) => commit,
                _ => unreachable!("a COMMIT"),
            },
        )
        .collect();
    let certificate = CommitCertificate {
        commits,
        batch: committed.clone(),
    };
    deliver(&mut shell, 2, Message::CommitCertificate(certificate));

    // The application holds B's effects and none of A's, and the rebuilt core executed B.
    assert_eq!(shell.rollbacks, 1);
    assert_eq!(
        decode::<Vec<Vec<u8>>>("journal", &shell.app.snapshot()).ok(),
        Some(operations(&committed))
    );
    assert_eq!(shell.core.last_executed(), Seq(1));
    assert!(!shell.core.has_tentative_execution());
    shell.publish_status();
    assert_eq!(watch.borrow().rollbacks, 1);
}
