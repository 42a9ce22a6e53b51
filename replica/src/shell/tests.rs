//! The shell around tentative execution, on a real store: rollback, who replies and with
//! what, and read-only requests that wait.

use crate::app::{AppError, ApplyContext};
use crate::cluster::{ClientAdmission, Cluster};
use crate::core::Config;
use crate::message::{ClientId, View, decode};
use crate::store::fixture;

use super::send::Outgoing;
use super::*;
use crate::message::{Request, encode};
use crate::net::{Lane, SendError};
use crate::wire::ReplicaFrame;
use rampart_crypto::{PublicKey, Signed};

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

/// A network that reaches nobody: the tests look at what the shell is about to send.
pub(crate) struct Nowhere;

impl Network for Nowhere {
    fn send_on(&self, _: Lane, _: ReplicaId, _: Bytes) -> Result<(), SendError> {
        Ok(())
    }

    fn send_to_client(&self, _: PublicKey, _: Bytes) -> Result<(), SendError> {
        Ok(())
    }
}

pub(crate) type TestShell = Shell<Nowhere>;

/// Replica 1 of a four-replica cluster with tentative execution, on a real store, its
/// application a [`Journal`] starting empty. The peers are never reached: tests hand the
/// replica their messages themselves.
pub(crate) async fn shell(dir: &std::path::Path) -> (TestShell, watch::Receiver<NodeStatus>) {
    let cluster = Cluster::new(
        fixture::CLUSTER,
        (0..4).map(|r| fixture::key(r).public_key()).collect(),
    )
    .expect("valid cluster");
    let config = Config {
        tentative_execution: true,
        clients: ClientAdmission::Open,
        ..Config::new(cluster.clone())
    };
    let id = ReplicaId(1);
    let key = fixture::key(1);
    let store =
        Store::open(dir, &fixture::identity(1), fixture::unsynced(), 4).expect("store opens");
    let (status, watch) = watch::channel(NodeStatus::default());
    let ports = Ports {
        store,
        network: Nowhere,
        signer: Arc::new(key),
        status,
        observer: None,
    };
    let shell = Shell::recover(
        Arc::new(config),
        id,
        0,
        Box::new(Journal::default()),
        ports,
        None,
    )
    .expect("an empty store recovers");
    (shell, watch)
}

pub(crate) fn deliver(shell: &mut TestShell, from: u32, message: Message) {
    shell
        .feed(Input::Message {
            from: ReplicaId(from),
            message: Verified::assume_verified(message),
        })
        .expect("the round is carried out");
}

/// Sequence number 1 prepares in view 0 with `batch`, which runs ahead of its commit.
fn run_ahead(shell: &mut TestShell, batch: &Arc<crate::message::Batch>) {
    prepare(shell, batch);
    shell.flush().expect("the round is made durable");
}

/// [`run_ahead`] without sending what the rounds produced.
fn prepare(shell: &mut TestShell, batch: &Arc<crate::message::Batch>) {
    deliver(
        shell,
        0,
        fixture::pre_prepare(View(0), Seq(1), batch.clone()),
    );
    for from in [2, 3] {
        deliver(
            shell,
            from,
            fixture::prepare(View(0), Seq(1), batch.digest(), from),
        );
    }
    assert!(shell.core.has_tentative_execution());
}

/// Sequence number 1 commits in view 0 with `batch`: COMMITs from replicas 0 and 2 join
/// this replica's own.
fn commit(shell: &mut TestShell, batch: &Arc<crate::message::Batch>) {
    for from in [0, 2] {
        deliver(
            shell,
            from,
            fixture::commit(View(0), Seq(1), batch.digest(), from),
        );
    }
}

/// Request number 1 of a client, signed.
fn client_request(operation: &'static [u8], read_only: bool) -> Signed<Request> {
    let client = rampart_crypto::KeyPair::from_seed(200);
    let request = Request {
        client: ClientId(client.public_key()),
        number: 1,
        operation: Bytes::from_static(operation),
        read_only,
    };
    Signed::sign(fixture::CLUSTER, request, &client).expect("signs")
}

/// The replies to ordered requests the shell is about to send: (tentative, certified).
fn ordered_replies(shell: &TestShell) -> Vec<(bool, bool)> {
    shell
        .outgoing
        .iter()
        .filter_map(|outgoing| match outgoing {
            Outgoing::Client {
                frame:
                    ReplicaFrame::Reply {
                        reply,
                        read_only: false,
                        certificate,
                        ..
                    },
                ..
            } => Some((reply.tentative, certificate.is_some())),
            _ => None,
        })
        .collect()
}

fn journal(shell: &TestShell) -> Option<Vec<Vec<u8>>> {
    decode("journal", &shell.app.snapshot()).ok()
}

#[tokio::test]
async fn a_tentative_execution_that_commits_otherwise_is_rolled_back_to_durable_state() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut shell, watch) = shell(dir.path()).await;
    let ran = fixture::batch(1, 8);
    run_ahead(&mut shell, &ran);
    assert_eq!(journal(&shell), Some(operations(&ran)));

    // A quorum committed batch B at 1 instead (after a view change this replica missed).
    let committed = fixture::batch(2, 4);
    let certificate = fixture::commit_certificate(View(1), Seq(1), &committed);
    deliver(&mut shell, 2, Message::CommitCertificate(certificate));
    shell.flush().expect("the round is made durable");

    // The application holds B's effects and none of A's, and the rebuilt core executed B.
    assert_eq!(shell.rollbacks, 1);
    assert_eq!(journal(&shell), Some(operations(&committed)));
    assert_eq!(shell.core.last_executed(), Seq(1));
    assert!(!shell.core.has_tentative_execution());
    shell.publish_status();
    assert_eq!(watch.borrow().rollbacks, 1);
}

/// PBFT §5.1.3: a read-only request is not answered from a state that holds a batch which
/// may not commit; it is answered once the batch has committed.
#[tokio::test]
async fn a_read_only_request_waits_while_a_batch_runs_ahead() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut shell, _watch) = shell(dir.path()).await;
    let batch = fixture::batch(1, 8);
    run_ahead(&mut shell, &batch);
    let query = client_request(b"read", true);
    let read_only_answers = |shell: &TestShell| {
        shell
            .outgoing
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Outgoing::Client {
                        frame: ReplicaFrame::Reply {
                            read_only: true,
                            ..
                        },
                        ..
                    }
                )
            })
            .count()
    };
    shell
        .accept(CoreInput::Request {
            request: Verified::assume_verified(query),
            certify: false,
            all_answer: false,
        })
        .expect("accepted");
    assert_eq!(
        read_only_answers(&shell),
        0,
        "answered from a tentative state"
    );

    commit(&mut shell, &batch);
    assert!(!shell.core.has_tentative_execution());
    assert_eq!(
        read_only_answers(&shell),
        1,
        "answered once the batch committed"
    );
}

/// A client that asked for a commit certificate gets no tentative reply: that reply would
/// use up the replica's one answer without a certificate. It gets the committed reply,
/// certificate included.
#[tokio::test]
async fn a_certified_request_gets_only_its_committed_reply_with_the_certificate() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut shell, _watch) = shell(dir.path()).await;
    let request = client_request(b"write", false);
    shell
        .accept(CoreInput::Request {
            request: Verified::assume_verified(request.clone()),
            certify: true,
            all_answer: false,
        })
        .expect("accepted");
    let batch = Arc::new(crate::message::Batch::new(vec![request]));
    prepare(&mut shell, &batch);
    assert_eq!(ordered_replies(&shell), [], "a tentative reply went out");

    commit(&mut shell, &batch);
    assert!(!shell.core.has_tentative_execution());
    assert_eq!(ordered_replies(&shell), [(false, true)]);
}

/// The views this replica told clients that asked, in order.
fn status_answers(shell: &TestShell) -> Vec<(ReplicaId, View)> {
    shell
        .outgoing
        .iter()
        .filter_map(|outgoing| match outgoing {
            Outgoing::Client {
                frame: ReplicaFrame::StatusAnswer { replica, view },
                ..
            } => Some((*replica, *view)),
            _ => None,
        })
        .collect()
}

/// A client that asks is told the view this replica is in, including the view it moves
/// to in a view change, so that a client starting after a view change knows the primary.
#[tokio::test]
async fn a_status_request_is_answered_with_the_current_view() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut shell, _watch) = shell(dir.path()).await;
    let client = rampart_crypto::KeyPair::from_seed(200).public_key();
    shell
        .accept(CoreInput::StatusRequest { client })
        .expect("accepted");
    assert_eq!(status_answers(&shell), [(ReplicaId(1), View(0))]);
    shell.flush().expect("sent");

    // f + 1 VIEW-CHANGEs for view 1: this replica joins the view change.
    for from in [2, 3] {
        deliver(
            &mut shell,
            from,
            fixture::view_change(View(1), from, vec![]),
        );
    }
    assert_eq!(shell.core.view(), View(1));
    shell
        .accept(CoreInput::StatusRequest { client })
        .expect("accepted");
    assert_eq!(status_answers(&shell), [(ReplicaId(1), View(1))]);
}
