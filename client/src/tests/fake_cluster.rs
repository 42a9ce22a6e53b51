//! Four fake replicas on real transports. They run no protocol: each client request that
//! arrives is recorded and handed to a behaviour, which decides which replicas answer it,
//! with what and when. A status request is answered with the replica's view, which the test
//! sets (view 0 unless it says otherwise), or not at all.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;

use rampart_crypto::{KeyPair, PublicKey, Signed};
use rampart_net::{Inbound, ReplicaTransport, SendError, TransportConfig};
use rampart_protocol::cluster::{ClientAdmission, Cluster};
use rampart_protocol::message::{
    ClientId, Refusal, ReplicaId, Reply, Request, Seq, View, decode, encode,
};
use rampart_protocol::wire::{ClientFrame, CommitProof, ReplicaFrame};

use crate::Client;
use crate::config::ClientConfig;
use crate::test_support::{client_key, test_cluster};

/// A client request as one fake replica received it.
#[derive(Clone, Debug)]
pub(crate) struct Arrival {
    pub(crate) replica: ReplicaId,
    /// The client's key, as the transport authenticated it.
    pub(crate) client: PublicKey,
    pub(crate) request: Signed<Request>,
    pub(crate) certify: bool,
    /// The client asked every replica to answer.
    pub(crate) all_answer: bool,
}

impl Arrival {
    pub(crate) fn number(&self) -> u64 {
        self.request.value.number
    }

    pub(crate) fn read_only(&self) -> bool {
        self.request.value.read_only
    }

    pub(crate) fn operation(&self) -> &[u8] {
        &self.request.value.operation
    }
}

/// What one replica sends, in order.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Answer {
    Frame(ReplicaFrame),
    /// Bytes that decode as no frame.
    Garbage,
    /// Wait before the next answer.
    Pause(Duration),
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Decides what happens when a request arrives at a replica.
pub(crate) type Behaviour = Arc<dyn Fn(Arrival, Replier) -> BoxFuture + Send + Sync>;

/// Sends answers from any fake replica to a client.
#[derive(Clone)]
pub(crate) struct Replier {
    replicas: Arc<Vec<ReplicaTransport>>,
}

impl Replier {
    pub(crate) async fn send(&self, from: ReplicaId, client: PublicKey, answers: Vec<Answer>) {
        for answer in answers {
            let bytes = match answer {
                Answer::Frame(frame) => Bytes::from(encode(&frame)),
                Answer::Garbage => Bytes::from_static(b"\xff\xff\xff not a frame"),
                Answer::Pause(pause) => {
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            self.send_bytes(from, client, bytes).await;
        }
    }

    /// The client may not have reached every replica yet when the first answers go out;
    /// wait for its connection rather than lose the frame.
    async fn send_bytes(&self, from: ReplicaId, client: PublicKey, bytes: Bytes) {
        let transport = &self.replicas[from.0 as usize];
        for _ in 0..500 {
            match transport.send_to_client(client, bytes.clone()) {
                Err(SendError::ClientNotConnected { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                _ => return,
            }
        }
    }
}

/// Only the replica that received the request answers, with `answer(replica, arrival)`.
pub(crate) fn receiver_answers(
    answer: impl Fn(ReplicaId, &Arrival) -> Vec<Answer> + Send + Sync + 'static,
) -> Behaviour {
    Arc::new(move |arrival: Arrival, replier: Replier| {
        let answers = answer(arrival.replica, &arrival);
        Box::pin(async move { replier.send(arrival.replica, arrival.client, answers).await })
    })
}

/// A request arriving at any replica makes every replica answer, as in PBFT where the
/// primary orders the request and every replica executes it and replies.
pub(crate) fn all_answer(
    answer: impl Fn(ReplicaId, &Arrival) -> Vec<Answer> + Send + Sync + 'static,
) -> Behaviour {
    Arc::new(move |arrival: Arrival, replier: Replier| {
        let sends: Vec<_> = (0..4)
            .map(|replica| {
                let replica = ReplicaId(replica);
                let answers = answer(replica, &arrival);
                let replier = replier.clone();
                let client = arrival.client;
                async move { replier.send(replica, client, answers).await }
            })
            .collect();
        Box::pin(async move {
            for send in sends {
                tokio::spawn(send);
            }
        })
    })
}

/// A reply from `from` to the arrival's request.
pub(crate) fn reply(arrival: &Arrival, from: ReplicaId, view: View, result: &[u8]) -> Answer {
    reply_with_proof(arrival, from, view, result, None, None)
}

/// A tentative reply (PBFT §5.1.2) from `from` to the arrival's request, executed at
/// sequence number 1 of `view`: the client needs 2f + 1 of them alike.
pub(crate) fn tentative_reply(
    arrival: &Arrival,
    from: ReplicaId,
    view: View,
    result: &[u8],
) -> Answer {
    let Answer::Frame(ReplicaFrame::Reply {
        mut reply,
        read_only,
        certificate,
        signature,
    }) = reply(arrival, from, view, result)
    else {
        unreachable!("`reply` makes a reply");
    };
    reply.tentative = true;
    Answer::Frame(ReplicaFrame::Reply {
        reply,
        read_only,
        certificate,
        signature,
    })
}

/// A reply with an optional commit proof, signed by `signer` if given (as replicas sign
/// replies to certified requests).
pub(crate) fn reply_with_proof(
    arrival: &Arrival,
    from: ReplicaId,
    view: View,
    result: &[u8],
    proof: Option<CommitProof>,
    signer: Option<&KeyPair>,
) -> Answer {
    let reply = Reply {
        view,
        seq: Seq(1),
        client: ClientId(arrival.client),
        number: arrival.number(),
        replica: from,
        result: Bytes::copy_from_slice(result),
        tentative: false,
    };
    let signature = signer.map(|key| {
        Signed::sign(test_cluster().0.id, reply.clone(), key)
            .expect("signing cannot fail")
            .signature
    });
    Answer::Frame(ReplicaFrame::Reply {
        reply,
        read_only: arrival.read_only(),
        certificate: proof,
        signature,
    })
}

pub(crate) fn refuse(arrival: &Arrival, refusal: Refusal) -> Answer {
    Answer::Frame(ReplicaFrame::Refused {
        number: arrival.number(),
        refusal,
    })
}

/// Four fake replicas listening on loopback.
pub(crate) struct FakeCluster {
    pub(crate) cluster: Cluster,
    pub(crate) addresses: Vec<SocketAddr>,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl FakeCluster {
    /// Four fake replicas that admit the test client's key.
    pub(crate) async fn start(behaviour: Behaviour) -> FakeCluster {
        FakeCluster::start_admitting(
            behaviour,
            ClientAdmission::listed([client_key().public_key()]),
        )
        .await
    }

    pub(crate) async fn start_admitting(
        behaviour: Behaviour,
        admission: ClientAdmission,
    ) -> FakeCluster {
        FakeCluster::start_with(behaviour, admission, [Some(View(0)); 4]).await
    }

    /// Four fake replicas that admit the test client's key and answer a status request
    /// with `views[replica]`, or, for None, not at all.
    pub(crate) async fn start_in_views(
        behaviour: Behaviour,
        views: [Option<View>; 4],
    ) -> FakeCluster {
        FakeCluster::start_with(
            behaviour,
            ClientAdmission::listed([client_key().public_key()]),
            views,
        )
        .await
    }

    async fn start_with(
        behaviour: Behaviour,
        admission: ClientAdmission,
        views: [Option<View>; 4],
    ) -> FakeCluster {
        let (cluster, keys) = test_cluster();
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        // A replica dials only the replicas with higher ids, so starting from the highest
        // lets every replica know the addresses it dials; the other entries are unused.
        let mut addresses = vec![loopback; cluster.size()];
        let mut started = Vec::new();
        let settings = rampart_protocol::core::Config::new(cluster.clone()).settings("fake");
        for replica in (0..cluster.size() as u32).rev().map(ReplicaId) {
            let mut config = TransportConfig::new(loopback, addresses.clone(), settings.clone());
            config.clients = admission.clone();
            let (transport, inbound) =
                ReplicaTransport::start(replica, &keys[replica.0 as usize], &cluster, config)
                    .await
                    .expect("a fake replica starts on loopback");
            addresses[replica.0 as usize] = transport.local_addr();
            started.push((replica, transport, inbound));
        }
        started.reverse();
        let mut transports = Vec::new();
        let mut inbounds = Vec::new();
        for (replica, transport, inbound) in started {
            transports.push(transport);
            inbounds.push((replica, inbound));
        }
        let replier = Replier {
            replicas: Arc::new(transports),
        };
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let tasks = inbounds
            .into_iter()
            .map(|(replica, mut inbound)| {
                let (behaviour, replier, arrivals) = (
                    Arc::clone(&behaviour),
                    replier.clone(),
                    Arc::clone(&arrivals),
                );
                tokio::spawn(async move {
                    while let Some(message) = inbound.recv().await {
                        let Inbound::Client { from, frame } = message else {
                            continue;
                        };
                        let decoded = decode::<ClientFrame>("client frame", &frame);
                        let (request, certify, all_answer) = match decoded {
                            Ok(ClientFrame::Request {
                                request,
                                certify,
                                all_answer,
                            }) => (request, certify, all_answer),
                            Ok(ClientFrame::Status) => {
                                if let Some(view) = views[replica.0 as usize] {
                                    let answer = ReplicaFrame::StatusAnswer { replica, view };
                                    tokio::spawn({
                                        let replier = replier.clone();
                                        async move {
                                            replier
                                                .send(replica, from, vec![Answer::Frame(answer)])
                                                .await
                                        }
                                    });
                                }
                                continue;
                            }
                            Err(error) => {
                                panic!("the client sent a frame that does not decode: {error}")
                            }
                        };
                        let arrival = Arrival {
                            replica,
                            client: from,
                            request,
                            certify,
                            all_answer,
                        };
                        lock(&arrivals).push(arrival.clone());
                        tokio::spawn(behaviour(arrival, replier.clone()));
                    }
                })
            })
            .collect();
        FakeCluster {
            cluster,
            addresses,
            arrivals,
            tasks,
        }
    }

    /// A client configuration for this cluster, with short timings for tests.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.cluster.clone(), self.addresses.clone());
        config.request_timeout = Duration::from_secs(20);
        config.retransmit_interval_min = Duration::from_millis(100);
        config.retransmit_interval_max = Duration::from_millis(400);
        config.read_only_timeout = Duration::from_millis(500);
        config.transport.bind = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        config
    }

    /// A client of this cluster, connected, whose first retransmission would come only
    /// after 10 s: for tests where an answer must come without one.
    pub(crate) async fn client_without_retransmission(&self) -> Client {
        let mut config = self.client_config();
        config.retransmit_interval_min = Duration::from_secs(10);
        config.retransmit_interval_max = Duration::from_secs(10);
        Client::connect(config, client_key())
            .await
            .expect("connects")
    }

    /// Every request that arrived so far, in arrival order.
    pub(crate) fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.arrivals).clone()
    }

    /// The replicas that received request `number`, in arrival order.
    pub(crate) fn receivers_of(&self, number: u64) -> Vec<ReplicaId> {
        self.arrivals()
            .iter()
            .filter(|arrival| arrival.number() == number)
            .map(|arrival| arrival.replica)
            .collect()
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
