//! What a replica makes of a peer's HELLO (see `hello`): whether the peer runs with our
//! cluster settings, and whether it is a second process running with a key that already
//! runs elsewhere (a twin).
//!
//! # Settings
//!
//! A HELLO whose cluster id or settings differ from ours is refused: the connection is
//! closed with [`close_code::SETTINGS`] and a reason that names each setting that differs
//! (from the peer's point of view, which its log shows), and our log names them from
//! ours, at most once a minute per peer and content. Nothing the peer sends is read: it
//! never surfaces as a signature that does not check.
//!
//! # Twins
//!
//! Two processes may run with one replica's key: a host restored from a backup while the
//! original still runs, a container scheduled twice, a replica started again elsewhere by
//! mistake. Both sign as that replica, and what one signs the other may contradict. The
//! cluster survives it (the two are one faulty replica), but an operator must hear of it,
//! and the second must stop.
//!
//! Every transport draws a boot id when it starts and sends it in each HELLO. A replica
//! that serves a connection for replica i whose HELLO carried boot id A, and receives a
//! HELLO for replica i with boot id B ≠ A, is looking at one of two things:
//!
//! - a restart: the process with boot id A crashed, and its connection is dead but not yet
//!   closed (QUIC finds out from its idle timeout, or from a stateless reset when the new
//!   process listens where the old one did);
//! - a twin: the process with boot id A still runs.
//!
//! To tell them apart the old connection is probed (a QUIC datagram, which its process
//! acknowledges, whether it reads datagrams or not): acknowledgements that arrive on it
//! after the newcomer's HELLO, once the ones already in flight have landed (twice the
//! round-trip time), prove that its process is alive, and the newcomer is a twin. A
//! crashed process sent its last packet before its successor started, and a start (key,
//! store, dials) takes longer than a round trip, so nothing from the dead process is left
//! in flight to be mistaken for life; and acknowledgements are authenticated, so nobody
//! else can fake them. It is refused with
//! [`close_code::TWIN`] and the reason "identity already running with boot id A", and the
//! pair is logged at ERROR (at most once a minute per pair, once every ten seconds per
//! peer). If instead the old connection closes, the newcomer is accepted. Until one or
//! the other happens the newcomer waits; its dial gives up after the handshake timeout
//! and is retried, so a restarted replica is never refused, only kept waiting until its
//! old connection closes: at once with a stateless reset, after the idle timeout at most.
//!
//! Only replicas with higher ids dial a replica, so the lower ids would never hear from a
//! twin: each replica therefore announces itself to every lower id that has not dialed it
//! ([`super::hello::Purpose::Announce`]; at start until answered, then once every idle
//! timeout while that peer does not serve it, see `announce`), and the lower id judges
//! the announcement against the connection it dialed, in the same way.
//!
//! A process that f + 1 distinct replicas refuse as a twin reports a [`TwinRefusal`], and
//! its replica stops: another process already runs it.
//!
//! # What faulty replicas can do with this
//!
//! - A refusal is a CONNECTION_CLOSE inside a connection whose TLS handshake pinned the
//!   peer's key: a stranger or the network cannot forge one, only drop it, which can hide
//!   a twin from itself but never stop a correct replica.
//! - A faulty replica may refuse anyone as a twin at will. That is why one refusal, or f,
//!   stop nothing: f + 1 distinct replicas include a correct one, and a correct replica
//!   refuses only with proof, a live connection made with the refused process's key by a
//!   process with another boot id. Only a holder of that key can make one (TLS pins it),
//!   so either another process runs with the key, or the key has leaked and the replica is
//!   faulty anyway.
//! - A faulty replica cannot make a correct replica refuse another correct one: it cannot
//!   connect with another replica's key, and its own HELLOs concern only itself.
//! - A faulty replica that does not refuse a twin only withholds its own count: a twin
//!   reaches 3f peers, of which at least 2f ≥ f + 1 are correct and refuse it.
//! - A faulty replica that connects again and again with fresh boot ids costs each
//!   connection one probe of its own live connection, which it answers at once, and
//!   writes a log line at most every ten seconds.
//! - Twins started at the same moment may each be refused by some peers, whichever reached
//!   them first: the one that f + 1 refuse stops; with refusals split, both may stop or
//!   neither, and every peer logs the pair. Either way it is loud, and safety holds: two
//!   processes with one key are one faulty replica.
//! - A faulty replica may claim any settings in its HELLO: it only gets itself refused.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quinn::ConnectionError;
use rampart_crypto::ClusterId;
use tokio::sync::watch;
use tracing::{debug, error, warn};

use super::close_code;
use super::config::Timing;
use super::hello::{Hello, Purpose, receive_hello, send_hello};
use super::stats::Counters;
use crate::message::ReplicaId;
use crate::settings::{ClusterSettings, Mismatch, Perspective, SettingDifference};

/// Why this process must not run: f + 1 replicas report that another process with its
/// key is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinRefusal {
    pub replica: ReplicaId,
    /// This process's boot id.
    pub boot_id: u64,
    /// The replicas that refused this process, each with the boot id it says runs.
    pub refused_by: BTreeMap<ReplicaId, u64>,
}

impl fmt::Display for TwinRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "another process already runs replica {replica}; refusing to run (replicas \
             {refusers} refused this process, boot id {boot_id:016x}, because boot id \
             {running} runs): stop the other process, or give this one its own key",
            replica = self.replica.0,
            refusers = list(self.refused_by.keys().map(|replica| replica.0)),
            boot_id = self.boot_id,
            running = list(
                self.refused_by
                    .values()
                    .map(|boot_id| format!("{boot_id:016x}"))
            ),
        )
    }
}

impl std::error::Error for TwinRefusal {}

/// `a, b, c`, each item once.
fn list<T: ToString>(items: impl Iterator<Item = T>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for item in items {
        let item = item.to_string();
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen.join(", ")
}

/// A connection whose HELLO was accepted, and the boot id it carried.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) connection: quinn::Connection,
    pub(crate) boot_id: u64,
}

/// What becomes of a newcomer whose HELLO checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    Accept,
    /// Another process with the newcomer's key is live, with this boot id.
    Twin {
        running_boot_id: u64,
    },
    /// The newcomer went away before a judgement.
    Abandoned,
}

/// A refusal to send a peer: a close code and the reason it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: quinn::VarInt,
    pub(crate) reason: String,
}

/// How often the old connection is probed while a newcomer waits.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// The least and most time given to acknowledgements already in flight when a newcomer
/// arrives (twice the old connection's round-trip time, within these bounds): only
/// acknowledgements after it count as proof of life.
const SETTLE_MIN: Duration = Duration::from_millis(20);
const SETTLE_MAX: Duration = Duration::from_millis(500);
/// A line about one peer and one subject is repeated at most this often.
const LOG_REPEAT_INTERVAL: Duration = Duration::from_secs(60);
/// Lines about one peer, whatever their subject, are at least this far apart.
const LOG_PEER_INTERVAL: Duration = Duration::from_secs(10);
/// The longest reason sent with a refusal: QUIC carries it in one packet.
const REASON_BYTES_MAX: usize = 800;

/// When a line about each peer was last written, and about what.
#[derive(Debug)]
struct LogLimit {
    last: Vec<Option<(u64, Instant)>>,
}

impl LogLimit {
    fn new(replicas: usize) -> LogLimit {
        LogLimit {
            last: vec![None; replicas],
        }
    }

    /// Whether a line about `peer` and `subject` may be written now; if so, it counts as
    /// written.
    fn allows(&mut self, peer: ReplicaId, subject: &impl Hash, now: Instant) -> bool {
        let mut hasher = DefaultHasher::new();
        subject.hash(&mut hasher);
        let subject = hasher.finish();
        let Some(slot) = self.last.get_mut(peer.0 as usize) else {
            return false;
        };
        let allowed = match *slot {
            None => true,
            Some((last_subject, at)) => {
                let since = now.saturating_duration_since(at);
                since >= LOG_REPEAT_INTERVAL
                    || (last_subject != subject && since >= LOG_PEER_INTERVAL)
            }
        };
        if allowed {
            *slot = Some((subject, now));
        }
        allowed
    }
}

#[derive(Debug)]
struct Logs {
    settings_refused: LogLimit,
    twins_refused: LogLimit,
    refused_by_peer: LogLimit,
}

/// What a replica transport knows and decides about its peers' HELLOs.
#[derive(Debug)]
pub(crate) struct Greeting {
    me: ReplicaId,
    boot_id: u64,
    cluster: ClusterId,
    settings: ClusterSettings,
    timing: Timing,
    counters: Arc<Counters>,
    /// The connection each peer is served on now, by replica id.
    sessions: Vec<Mutex<Option<Session>>>,
    /// The replicas that refuse this process as a twin, and the boot id each says runs.
    twin_refusals: Mutex<BTreeMap<ReplicaId, u64>>,
    verdict: watch::Sender<Option<TwinRefusal>>,
    logs: Mutex<Logs>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update leaves the value consistent, so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Greeting {
    pub(crate) fn new(
        me: ReplicaId,
        boot_id: u64,
        cluster: ClusterId,
        settings: ClusterSettings,
        timing: Timing,
        counters: Arc<Counters>,
    ) -> Greeting {
        let replicas = settings.replicas.len();
        Greeting {
            me,
            boot_id,
            cluster,
            settings,
            timing,
            counters,
            sessions: (0..replicas).map(|_| Mutex::new(None)).collect(),
            twin_refusals: Mutex::new(BTreeMap::new()),
            verdict: watch::channel(None).0,
            logs: Mutex::new(Logs {
                settings_refused: LogLimit::new(replicas),
                twins_refused: LogLimit::new(replicas),
                refused_by_peer: LogLimit::new(replicas),
            }),
        }
    }

    pub(crate) fn boot_id(&self) -> u64 {
        self.boot_id
    }

    /// Our HELLO for a connection made for `purpose`.
    pub(crate) fn hello(&self, purpose: Purpose) -> Hello {
        Hello {
            purpose,
            replica: self.me,
            boot_id: self.boot_id,
            cluster: self.cluster,
            settings: self.settings.clone(),
        }
    }

    /// Checks the HELLO of `peer`, the replica whose key TLS proved: it must say it is
    /// that replica and run with our cluster id and settings. A refusal is counted and
    /// logged here; the caller sends it.
    pub(crate) fn check(&self, peer: ReplicaId, hello: &Hello) -> Result<(), Refusal> {
        if hello.replica != peer {
            self.counters.handshake_refused();
            warn!(
                %peer, claimed = %hello.replica,
                "refused a HELLO that names another replica than the key proved"
            );
            return Err(Refusal {
                code: close_code::REFUSED,
                reason: "the HELLO names another replica than the key".to_string(),
            });
        }
        let mut differences = self.settings.differences(&hello.settings);
        if differences.is_empty() && hello.cluster != self.cluster {
            differences.push(SettingDifference {
                setting: "cluster_id".to_string(),
                theirs: hello.cluster.to_string(),
                ours: self.cluster.to_string(),
            });
        }
        if differences.is_empty() {
            return Ok(());
        }
        self.counters.settings_refused();
        let name = format!("replica {}", peer.0);
        let ours = Mismatch {
            peer: &name,
            differences: &differences,
            perspective: Perspective::Ours,
        }
        .to_string();
        if lock(&self.logs)
            .settings_refused
            .allows(peer, &ours, Instant::now())
        {
            error!(%peer, "refused a replica with other cluster settings: {ours}");
        }
        // The peer reads it: its settings are "yours" there, and we are the replica named.
        let swapped: Vec<SettingDifference> = differences
            .iter()
            .map(|difference| SettingDifference {
                setting: difference.setting.clone(),
                theirs: difference.ours.clone(),
                ours: difference.theirs.clone(),
            })
            .collect();
        let me = format!("replica {}", self.me.0);
        let reason = Mismatch {
            peer: &me,
            differences: &swapped,
            perspective: Perspective::Theirs,
        }
        .to_string();
        Err(Refusal {
            code: close_code::SETTINGS,
            reason: truncated(reason),
        })
    }

    /// Records that `connection`, whose HELLO carried `boot_id`, now serves `peer`.
    pub(crate) fn serve(&self, peer: ReplicaId, connection: &quinn::Connection, boot_id: u64) {
        if let Some(slot) = self.sessions.get(peer.0 as usize) {
            *lock(slot) = Some(Session {
                connection: connection.clone(),
                boot_id,
            });
        }
    }

    /// Whether a live connection serves `peer` now.
    pub(crate) fn is_served(&self, peer: ReplicaId) -> bool {
        self.session(peer).is_some()
    }

    fn session(&self, peer: ReplicaId) -> Option<Session> {
        let slot = self.sessions.get(peer.0 as usize)?;
        lock(slot)
            .as_ref()
            .filter(|session| session.connection.close_reason().is_none())
            .cloned()
    }

    /// Decides whether `newcomer`, whose HELLO for `peer` carried `boot_id`, may be
    /// served, or is a twin of the process served now (see the module documentation). A
    /// twin is counted and logged here; the caller refuses it.
    pub(crate) async fn judge(
        &self,
        peer: ReplicaId,
        boot_id: u64,
        newcomer: &quinn::Connection,
    ) -> Judgement {
        let Some(current) = self.session(peer) else {
            return Judgement::Accept;
        };
        if current.boot_id == boot_id {
            // The same process, connecting again (it noticed a broken path first).
            return Judgement::Accept;
        }
        let judgement = match probe(&current.connection, newcomer).await {
            Liveness::Alive => Judgement::Twin {
                running_boot_id: current.boot_id,
            },
            Liveness::Gone => Judgement::Accept,
            Liveness::NewcomerGone => Judgement::Abandoned,
        };
        if let Judgement::Twin { running_boot_id } = judgement {
            self.counters.twin_refused();
            let pair = (running_boot_id, boot_id);
            if lock(&self.logs)
                .twins_refused
                .allows(peer, &pair, Instant::now())
            {
                error!(
                    %peer,
                    running_boot_id = %format!("{running_boot_id:016x}"),
                    running_at = %current.connection.remote_address(),
                    newcomer_boot_id = %format!("{boot_id:016x}"),
                    newcomer_at = %newcomer.remote_address(),
                    "two processes run replica {}: refusing the newer one; a replica's key must \
                     run in one process only, so stop one of them",
                    peer.0
                );
            }
        }
        judgement
    }

    /// The refusal a twin gets.
    pub(crate) fn twin_refusal(running_boot_id: u64) -> Refusal {
        Refusal {
            code: close_code::TWIN,
            reason: format!("identity already running with boot id {running_boot_id:016x}"),
        }
    }

    /// Greets `peer` on a connection we dialed to link with it: sends our HELLO, and checks
    /// the one it answers with. Returns whether the connection may be served; if not, it
    /// is closed, and a refusal by the peer is taken note of.
    pub(crate) async fn link(&self, connection: &quinn::Connection, peer: ReplicaId) -> bool {
        let exchange = async {
            send_hello(connection, &self.hello(Purpose::Link)).await?;
            receive_hello(connection).await
        };
        match tokio::time::timeout(self.timing.handshake_timeout, exchange).await {
            Ok(Ok(hello)) => match self.check(peer, &hello) {
                Ok(()) => {
                    self.accepted_by(peer);
                    self.serve(peer, connection, hello.boot_id);
                    true
                }
                Err(refusal) => {
                    connection.close(refusal.code, refusal.reason.as_bytes());
                    false
                }
            },
            Ok(Err(error)) => {
                match connection.close_reason() {
                    Some(reason) => {
                        self.closed_by(peer, &reason);
                    }
                    None => {
                        debug!(%peer, %error, "the peer's HELLO did not arrive");
                        connection.close(close_code::REFUSED, b"no valid HELLO");
                    }
                }
                false
            }
            Err(_) => {
                debug!(%peer, "the peer did not answer our HELLO in time");
                connection.close(
                    close_code::GAVE_UP,
                    b"no HELLO within the handshake timeout",
                );
                false
            }
        }
    }

    /// Announces this process to `peer`, a lower id, on a connection made for it, and
    /// takes note of the answer: the peer closes the connection, accepting us or refusing.
    /// Returns whether it answered.
    pub(crate) async fn announce(&self, connection: &quinn::Connection, peer: ReplicaId) -> bool {
        let answer = async {
            // A failure to send shows as the connection's close, awaited next.
            let _ = send_hello(connection, &self.hello(Purpose::Announce)).await;
            connection.closed().await
        };
        match tokio::time::timeout(self.timing.handshake_timeout, answer).await {
            Ok(ConnectionError::ApplicationClosed(close))
                if close.error_code == close_code::ANNOUNCED =>
            {
                self.accepted_by(peer);
                true
            }
            Ok(reason) => self.closed_by(peer, &reason),
            Err(_) => {
                debug!(%peer, "the peer did not answer our announcement in time");
                connection.close(
                    close_code::GAVE_UP,
                    b"no answer within the handshake timeout",
                );
                false
            }
        }
    }

    /// Takes note of how `peer` answered our HELLO, when it closed the connection instead
    /// of answering with its own: refused as a twin, or for other settings. Returns
    /// whether it was one of those refusals.
    pub(crate) fn closed_by(&self, peer: ReplicaId, reason: &ConnectionError) -> bool {
        let ConnectionError::ApplicationClosed(close) = reason else {
            return false;
        };
        let text = String::from_utf8_lossy(&close.reason).into_owned();
        if close.error_code == close_code::TWIN {
            self.counters.peer_refused_twin();
            let running_boot_id = text
                .rsplit(' ')
                .next()
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .unwrap_or_default();
            if lock(&self.logs)
                .refused_by_peer
                .allows(peer, &text, Instant::now())
            {
                error!(
                    %peer, boot_id = %format!("{:016x}", self.boot_id),
                    "replica {} refused this process: {text}; another process runs replica {} \
                     with this key",
                    peer.0, self.me.0
                );
            }
            self.refused_as_twin(peer, running_boot_id);
            true
        } else if close.error_code == close_code::SETTINGS {
            self.counters.peer_refused_settings();
            if lock(&self.logs)
                .refused_by_peer
                .allows(peer, &text, Instant::now())
            {
                error!(%peer, "replica {} refused this replica's cluster settings: {text}", peer.0);
            }
            true
        } else {
            false
        }
    }

    /// `peer` accepted this process: it no longer counts among those refusing it.
    pub(crate) fn accepted_by(&self, peer: ReplicaId) {
        lock(&self.twin_refusals).remove(&peer);
    }

    fn refused_as_twin(&self, peer: ReplicaId, running_boot_id: u64) {
        let refused_by = {
            let mut refusals = lock(&self.twin_refusals);
            refusals.insert(peer, running_boot_id);
            refusals.clone()
        };
        if refused_by.len() <= self.settings.faults_tolerated() {
            return;
        }
        let refusal = TwinRefusal {
            replica: self.me,
            boot_id: self.boot_id,
            refused_by,
        };
        let first = self.verdict.borrow().is_none();
        if first {
            error!("{refusal}");
        }
        self.verdict.send_replace(Some(refusal));
    }

    /// Where the verdict appears once f + 1 replicas refuse this process as a twin.
    pub(crate) fn verdict(&self) -> watch::Receiver<Option<TwinRefusal>> {
        self.verdict.subscribe()
    }
}

fn truncated(mut reason: String) -> String {
    if reason.len() > REASON_BYTES_MAX {
        let mut end = REASON_BYTES_MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

/// What a probe of an old connection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Liveness {
    /// Its process acknowledged packets sent after the newcomer arrived.
    Alive,
    /// It closed (a stateless reset, the idle timeout, or its process closed it).
    Gone,
    /// The newcomer went away first.
    NewcomerGone,
}

/// Probes `current` until its process proves alive, it closes, or `newcomer` goes away.
async fn probe(current: &quinn::Connection, newcomer: &quinn::Connection) -> Liveness {
    let settle = (current.rtt() * 2).clamp(SETTLE_MIN, SETTLE_MAX);
    let acknowledgements = || current.stats().frame_rx.acks;
    let watch = async {
        // Acknowledgements already in flight when the newcomer arrived prove nothing
        // about now; only those after they have landed count.
        tokio::time::sleep(settle).await;
        let before = acknowledgements();
        let mut interval = tokio::time::interval(PROBE_INTERVAL);
        loop {
            interval.tick().await;
            if acknowledgements() > before {
                return Liveness::Alive;
            }
            // An ack-eliciting packet. Fails only if the peer takes no datagrams (an older
            // or faulty one); its other traffic and keep-alives then answer instead.
            let _ = current.send_datagram(Bytes::from_static(b"?"));
        }
    };
    tokio::select! {
        liveness = watch => liveness,
        _ = current.closed() => Liveness::Gone,
        _ = newcomer.closed() => Liveness::NewcomerGone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_about_a_peer_are_limited_per_subject_and_per_peer() {
        let mut limit = LogLimit::new(4);
        let start = Instant::now();
        let peer = ReplicaId(2);
        assert!(limit.allows(peer, &"a", start));
        assert!(!limit.allows(peer, &"a", start + Duration::from_secs(30)));
        assert!(!limit.allows(peer, &"b", start + Duration::from_secs(5)));
        assert!(limit.allows(peer, &"b", start + LOG_PEER_INTERVAL));
        assert!(limit.allows(ReplicaId(1), &"b", start));
        let later = start + LOG_PEER_INTERVAL + LOG_REPEAT_INTERVAL;
        assert!(limit.allows(peer, &"b", later));
        assert!(!limit.allows(ReplicaId(9), &"a", start), "no such replica");
    }

    #[test]
    fn a_twin_refusal_names_the_replica_and_what_to_do() {
        let refusal = TwinRefusal {
            replica: ReplicaId(1),
            boot_id: 0xabc,
            refused_by: [(ReplicaId(0), 0x77), (ReplicaId(3), 0x77)]
                .into_iter()
                .collect(),
        };
        let text = refusal.to_string();
        assert!(
            text.starts_with("another process already runs replica 1; refusing to run"),
            "{text}"
        );
        assert!(text.contains("replicas 0, 3 refused"), "{text}");
        assert!(text.contains("boot id 0000000000000077 runs"), "{text}");
    }

    fn greeting(me: u32) -> Greeting {
        let keys = (0..4).map(|i| rampart_crypto::KeyPair::from_seed(i).public_key());
        let cluster = crate::cluster::Cluster::new(ClusterId(7), keys.collect()).expect("valid");
        let settings = rampart_protocol::core::Config::new(cluster).settings("test");
        Greeting::new(
            ReplicaId(me),
            0xb007,
            ClusterId(7),
            settings,
            Timing::default(),
            Arc::new(Counters::for_replicas(4)),
        )
    }

    fn closed(code: quinn::VarInt, reason: &str) -> ConnectionError {
        ConnectionError::ApplicationClosed(quinn::ApplicationClose {
            error_code: code,
            reason: Bytes::copy_from_slice(reason.as_bytes()),
        })
    }

    #[test]
    fn f_refusals_stop_nothing_and_f_plus_one_distinct_ones_stop_the_process() {
        let greeting = greeting(1);
        let verdict = greeting.verdict();
        let twin = Greeting::twin_refusal(0x77).reason;
        // One faulty replica (f = 1), refusing again and again.
        for _ in 0..3 {
            assert!(greeting.closed_by(ReplicaId(0), &closed(close_code::TWIN, &twin)));
        }
        assert!(verdict.borrow().is_none());
        // A refusal for settings, or a connection replaced, is no twin's.
        assert!(greeting.closed_by(ReplicaId(2), &closed(close_code::SETTINGS, "other")));
        assert!(!greeting.closed_by(ReplicaId(3), &closed(close_code::REPLACED, "newer")));
        assert!(verdict.borrow().is_none());
        // A replica that accepted us since no longer counts.
        greeting.accepted_by(ReplicaId(0));
        greeting.closed_by(ReplicaId(3), &closed(close_code::TWIN, &twin));
        assert!(verdict.borrow().is_none(), "replica 0 accepted us since");
        greeting.closed_by(ReplicaId(2), &closed(close_code::TWIN, &twin));
        let refusal = verdict.borrow().clone().expect("f + 1 refused");
        assert_eq!(
            refusal.refused_by.keys().copied().collect::<Vec<_>>(),
            [ReplicaId(2), ReplicaId(3)]
        );
        assert_eq!(refusal.refused_by[&ReplicaId(2)], 0x77);
        assert_eq!(refusal.boot_id, 0xb007);
        assert_eq!(refusal.replica, ReplicaId(1));
    }

    #[test]
    fn long_reasons_are_cut_to_fit_a_packet() {
        let reason = truncated("é".repeat(REASON_BYTES_MAX));
        assert!(reason.len() <= REASON_BYTES_MAX + '…'.len_utf8());
    }
}
