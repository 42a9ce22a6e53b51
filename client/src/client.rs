//! The client: connects to the replicas, sends requests, and accepts a result once enough
//! replicas agree on it (PBFT §4.1, §5.1.3).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant, sleep, sleep_until, timeout, timeout_at};
use tracing::{debug, info, warn};

use rampart_crypto::{KeyPair, Signed};
use rampart_net::{ClientTransport, SendError};
use rampart_protocol::message::{ClientId, ReplicaId, Request, View, encode};
use rampart_protocol::wire::ClientFrame;

use crate::certificate::Certificate;
use crate::config::ClientConfig;
use crate::error::ClientError;
use crate::in_flight::InFlight;
use crate::pending::{Kind, Outcome};
use crate::router;
use crate::shared::Shared;
use crate::stats::ClientStats;
use crate::window::Window;

/// How often `connect` looks at the transport's connection counter while it waits.
const CONNECT_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A connection to a Rampart cluster, identified by its key.
///
/// Every method takes `&self`: share one client between tasks (in an `Arc`) and make
/// concurrent calls; each gets its own request number. Up to `window` requests are in
/// flight at once, and further calls wait for room. Every call is cancel-safe: dropping its
/// future gives its request number up (the replicas may still execute the request).
#[derive(Debug)]
pub struct Client {
    shared: Arc<Shared>,
    transport: ClientTransport,
    key: KeyPair,
    config: ClientConfig,
    router: AbortOnDrop,
}

/// The result of a read-only attempt.
enum ReadOnly {
    Agreed(Bytes),
    /// No 2f + 1 matching answers in time; the operation must be ordered instead.
    Inconclusive,
}

impl Client {
    /// Starts the transport and waits until at least one replica accepts the connection;
    /// the others are dialed in the background. Fails with
    /// [`ClientError::Unreachable`] after `config.connect_timeout`. Then asks every replica
    /// which view it is in, and waits up to `config.status_timeout` for a quorum to say
    /// (see [`Client::view`]).
    pub async fn connect(config: ClientConfig, key: KeyPair) -> Result<Client, ClientError> {
        config.validate()?;
        let (transport, inbound) =
            ClientTransport::start(&key, &config.cluster, config.transport_config())
                .await
                .map_err(|source| ClientError::Transport { source })?;
        // The transport exposes counters, not connection events; polling them briefly is
        // simpler than threading a signal through it.
        let refusals = transport.not_admitted_by();
        let not_admitted = config.cluster.weak_quorum();
        let connected = timeout(config.connect_timeout, async {
            while transport.stats().connections_established == 0 {
                let refused_by = *refusals.borrow();
                if refused_by >= not_admitted {
                    return Err(ClientError::NotAdmitted {
                        key: key.public_key(),
                        refused_by,
                    });
                }
                sleep(CONNECT_POLL_INTERVAL).await;
            }
            Ok(())
        })
        .await;
        if let Ok(Err(error)) = connected {
            return Err(error);
        }
        if connected.is_err() {
            // Dropping the transport stops its dialers; a graceful shutdown would wait
            // for the pending dials to drain.
            return Err(ClientError::Unreachable {
                replica_count: config.cluster.size(),
                after: config.connect_timeout,
            });
        }
        let client = ClientId(key.public_key());
        let window = Window::new(first_request_number(), config.window);
        let shared = Arc::new(Shared::new(client, config.cluster.clone(), window));
        let router = AbortOnDrop(tokio::spawn(router::run(Arc::clone(&shared), inbound)));
        let client = Client {
            shared,
            transport,
            key,
            config,
            router,
        };
        client.learn_view().await?;
        info!(
            client = %client.shared.client,
            cluster = %client.config.cluster.id,
            view = %client.view(),
            "client connected"
        );
        Ok(client)
    }

    /// Asks every replica which view it is in, and waits until a quorum (2f + 1) has
    /// answered, or `status_timeout` passed: the client then knows the view, and which
    /// replicas answer, before its first request (see `view.rs`). Later answers, and the
    /// view every reply carries, keep it up to date.
    ///
    /// A quorum, rather than f + 1: the f + 1 fastest answers may include a replica that
    /// lags behind or lies, and with 2f + 1 the view f + 1 of them reached is one that
    /// at least one correct replica reached. The wait is bounded because replicas may be
    /// down; a client that stops waiting still works, and asks every replica to answer
    /// until it has heard from the designated ones.
    async fn learn_view(&self) -> Result<(), ClientError> {
        let frame = Bytes::from(encode(&ClientFrame::Status));
        self.broadcast(&frame)?;
        let quorum = self.shared.cluster.quorum();
        let answered = async {
            loop {
                // Registered before the check, so an answer between the check and the
                // wait still wakes this call.
                let reported = self.shared.views_reported.notified();
                tokio::pin!(reported);
                reported.as_mut().enable();
                {
                    let state = self.shared.lock();
                    if state.views.heard_count() >= quorum || state.closed {
                        return;
                    }
                }
                reported.await;
            }
        };
        if timeout(self.config.status_timeout, answered).await.is_err() {
            debug!(
                heard_from = self.shared.lock().views.heard_count(),
                "fewer than a quorum of replicas said which view they are in; going on"
            );
        }
        Ok(())
    }

    /// Orders `operation` and returns its result once f + 1 replicas report the same one
    /// (PBFT §4.1). The request goes to the primary first and, when no quorum answers in
    /// time, to every replica, again and again with a growing interval until
    /// `request_timeout`.
    pub async fn submit(&self, operation: Bytes) -> Result<Bytes, ClientError> {
        let started = Instant::now();
        let deadline = started + self.config.request_timeout;
        let ordered = self.order(operation, false, started, deadline);
        let (result, _) = self.unless_not_admitted(ordered).await?;
        Ok(result)
    }

    /// Like [`Client::submit`], and also returns a [`Certificate`]: a quorum of the
    /// replicas' signed COMMITs proving the request was committed, which anyone with the
    /// cluster description can check offline. The request goes to every replica at once,
    /// since the certificate needs f + 1 replies signed by replicas that received it.
    pub async fn submit_certified(
        &self,
        operation: Bytes,
    ) -> Result<(Bytes, Certificate), ClientError> {
        let started = Instant::now();
        let deadline = started + self.config.request_timeout;
        let ordered = self.order(operation, true, started, deadline);
        match self.unless_not_admitted(ordered).await? {
            (result, Some(certificate)) => Ok((result, *certificate)),
            // The request waits for a verified certificate before it is decided.
            (_, None) => unreachable!("a certified request was accepted without a certificate"),
        }
    }

    /// Runs a read-only operation (PBFT §5.1.3): every replica answers from its current
    /// state at once, and 2f + 1 matching answers are the result. If they do not come
    /// within `read_only_timeout` (a write in progress makes them differ), the operation
    /// is ordered as a new request and its f + 1 result returned.
    ///
    /// The ordered fallback hands the same bytes to the application's `apply`, so the
    /// state machine must accept query bytes as an operation (typed applications do: their
    /// operations say whether they are commands or queries).
    pub async fn query(&self, operation: Bytes) -> Result<Bytes, ClientError> {
        let started = Instant::now();
        let deadline = started + self.config.request_timeout;
        self.unless_not_admitted(async {
            if let ReadOnly::Agreed(result) = self.read_only(operation.clone(), deadline).await? {
                return Ok(result);
            }
            debug!("no 2f + 1 matching read-only answers; ordering the operation");
            let (result, _) = self.order(operation, false, started, deadline).await?;
            Ok(result)
        })
        .await
    }

    /// Runs `call`, unless f + 1 replicas refuse to admit this client's key first: at
    /// least one of them is correct, so the configuration does not admit the key, and
    /// waiting for the request timeout would not change that. A faulty replica alone
    /// cannot make a call fail this way.
    async fn unless_not_admitted<T>(
        &self,
        call: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let mut refusals = self.transport.not_admitted_by();
        let threshold = self.shared.cluster.weak_quorum();
        let refused = async {
            let refused_by = refusals
                .wait_for(|count| *count >= threshold)
                .await
                .map(|count| *count);
            match refused_by {
                Ok(refused_by) => refused_by,
                // The transport is gone; the call itself reports that.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            result = call => result,
            refused_by = refused => Err(ClientError::NotAdmitted {
                key: self.key.public_key(),
                refused_by,
            }),
        }
    }

    /// The client's identity: its public key.
    pub fn id(&self) -> ClientId {
        self.shared.client
    }

    /// The view the client believes the cluster is in: the highest one f + 1 replicas
    /// have reported, in answer to the status request [`Client::connect`] sends or in
    /// replies (PBFT §4.1).
    pub fn view(&self) -> View {
        self.shared.lock().views.believed()
    }

    /// The primary of the view the client believes the cluster is in.
    pub fn primary(&self) -> ReplicaId {
        self.shared.lock().views.primary()
    }

    pub fn stats(&self) -> ClientStats {
        self.shared.counters.snapshot(self.transport.stats())
    }

    /// Closes the connections (the replicas are told) and stops the client's task.
    pub async fn close(self) {
        let Client {
            shared: _,
            transport,
            key: _,
            config: _,
            router,
        } = self;
        router.0.abort();
        transport.shutdown().await;
    }

    /// One ordered request: returns the result and, if `certify`, its certificate.
    async fn order(
        &self,
        operation: Bytes,
        certify: bool,
        started: Instant,
        deadline: Instant,
    ) -> Result<(Bytes, Option<Box<Certificate>>), ClientError> {
        let timed_out = |replies_seen| ClientError::Timeout {
            after: started.elapsed(),
            replies_seen,
        };
        let Ok(slot) = timeout_at(deadline, InFlight::reserve(&self.shared)).await else {
            return Err(timed_out(0));
        };
        let slot = slot?;
        let request = self.sign(slot.number(), operation, false)?;
        let frame = self.frame(&request, certify)?;
        let mut outcome = slot.register(Kind::Ordered { request, certify })?;
        // Every request goes to every replica, as in Aardvark (NSDI 2009): the backups
        // then know what the primary has to order, and suspect a primary that leaves it
        // unordered for long (`rampart_protocol::core`'s ordering timer), so a faulty
        // primary can neither censor this client nor slow it down for long. The primary
        // and f (or 2f) designated backups answer; a certified request is answered by all,
        // since its certificate needs f + 1 signed replies.
        self.broadcast(&frame)?;
        let mut interval = self.config.retransmit_interval_min;
        loop {
            let wake = (Instant::now() + interval).min(deadline);
            tokio::select! {
                decided = &mut outcome => {
                    return match decided.map_err(|_| ClientError::Closed)? {
                        Outcome::Accepted { result, certificate } => Ok((result, certificate)),
                        Outcome::Rejected { refusal } => Err(ClientError::Rejected { refusal }),
                        Outcome::Inconclusive => {
                            unreachable!("only read-only requests are inconclusive")
                        }
                    };
                }
                () = sleep_until(wake) => {}
            }
            if Instant::now() >= deadline {
                return Err(timed_out(slot.replies_seen()));
            }
            // PBFT §4.1: the primary may be faulty or a message lost; every replica gets
            // the request again, and each answers a request it received twice.
            debug!(
                number = slot.number(),
                "no quorum yet; sending the request to every replica again"
            );
            self.broadcast(&frame)?;
            if !self.config.all_answer_after_retransmit.is_zero() {
                self.shared.lock().all_answer_until =
                    Some(Instant::now() + self.config.all_answer_after_retransmit);
            }
            interval = (interval * 2).min(self.config.retransmit_interval_max);
        }
    }

    /// One read-only attempt, sent to every replica, bounded by `read_only_timeout`.
    async fn read_only(
        &self,
        operation: Bytes,
        deadline: Instant,
    ) -> Result<ReadOnly, ClientError> {
        let give_up = (Instant::now() + self.config.read_only_timeout).min(deadline);
        let Ok(slot) = timeout_at(give_up, InFlight::reserve(&self.shared)).await else {
            return Ok(ReadOnly::Inconclusive);
        };
        let slot = slot?;
        let request = self.sign(slot.number(), operation, true)?;
        let frame = self.frame(&request, false)?;
        let outcome = slot.register(Kind::ReadOnly)?;
        self.broadcast(&frame)?;
        match timeout_at(give_up, outcome).await {
            Ok(Ok(Outcome::Accepted { result, .. })) => Ok(ReadOnly::Agreed(result)),
            Ok(Ok(_)) | Err(_) => Ok(ReadOnly::Inconclusive),
            Ok(Err(_)) => Err(ClientError::Closed),
        }
    }

    fn sign(
        &self,
        number: u64,
        operation: Bytes,
        read_only: bool,
    ) -> Result<Signed<Request>, ClientError> {
        let limit = self.config.operation_bytes_max;
        if operation.len() > limit {
            return Err(ClientError::OperationTooLarge {
                bytes: operation.len(),
                limit,
            });
        }
        let request = Request {
            client: self.shared.client,
            number,
            operation,
            read_only,
        };
        Signed::sign(self.shared.cluster.id, request, &self.key)
            .map_err(|source| ClientError::Sign { source })
    }

    /// The request as it goes out. Every replica is asked to answer for a while after a
    /// retransmission, and whenever a replica designated to answer this request in the
    /// believed view has not been heard from (see `view.rs`): a fresh client after a view
    /// change, with a replica down, then needs no retransmission.
    fn frame(&self, request: &Signed<Request>, certify: bool) -> Result<Bytes, ClientError> {
        let all_answer = {
            let state = self.shared.lock();
            state
                .all_answer_until
                .is_some_and(|until| Instant::now() < until)
                || state.views.designated_unheard(request.value.number)
        };
        let frame = encode(&ClientFrame::Request {
            request: request.clone(),
            certify,
            all_answer,
        });
        let limit = self.config.transport.limits.max_frame_bytes;
        if frame.len() > limit {
            return Err(ClientError::RequestTooLarge {
                bytes: frame.len(),
                limit,
            });
        }
        Ok(Bytes::from(frame))
    }

    /// Queues `frame` for `to`. A frame the transport drops (a full queue, a connection
    /// being re-established) is not an error: the retransmissions make up for it.
    fn send(&self, to: ReplicaId, frame: Bytes) -> Result<(), ClientError> {
        match self.transport.send(to, frame) {
            Ok(()) => Ok(()),
            Err(SendError::ShutDown) => Err(ClientError::Closed),
            Err(error) => {
                debug!(replica = %to, %error, "request not sent; a retransmission will follow");
                Ok(())
            }
        }
    }

    fn broadcast(&self, frame: &Bytes) -> Result<(), ClientError> {
        self.shared
            .cluster
            .replica_ids()
            .try_for_each(|replica| self.send(replica, frame.clone()))
    }
}

/// Request numbers start at the current time in microseconds since the epoch, so a
/// restarted client with the same key stays above every number it used before.
fn first_request_number() -> u64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since_epoch) => u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX / 2),
        Err(_) => {
            warn!("the system clock is before 1970; request numbers start at 1");
            1
        }
    }
}

/// Stops the router when the client is dropped without [`Client::close`].
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
