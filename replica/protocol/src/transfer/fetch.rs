//! The fetching side of state transfer, as a sans-IO state machine.
//!
//! The core says which state to fetch and from whom ([`Action::FetchState`]); the
//! [`Fetcher`] asks one source for the manifest, checks it against the signed state
//! digest, then keeps several chunk requests outstanding at once, spread over the sources,
//! and checks every chunk on arrival. It says what to send and what to keep in [`Step`]s;
//! the driver (the node's shell or the simulator) sends, stores, and tells the core of
//! progress ([`Input::StateProgress`]) and of the complete state
//! ([`Input::StateFetched`]).
//!
//! Rules:
//! - a manifest or chunk that does not check out is the sender's fault: it is counted
//!   against the sender, logged, and what it should have been is asked of another source;
//!   a source with a fault is asked only while no source with a clean record can be;
//! - a request not answered within the timeout goes to another source, and the slow
//!   source gets one request at a time until it answers one;
//! - chunks already held (by digest: from an earlier target, or from this replica's own
//!   checkpoints) are not fetched again, so when the target moves only the chunks that
//!   changed travel.
//!
//! [`Action::FetchState`]: crate::core::Action::FetchState
//! [`Input::StateProgress`]: crate::core::Input::StateProgress
//! [`Input::StateFetched`]: crate::core::Input::StateFetched

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use rampart_crypto::Digest;

use crate::core::{ClientTable, Config};
use crate::message::{ReplicaId, Seq};

use super::{CheckedChunk, Manifest, StateFrame, TransferFault};

/// How many requests may be outstanding at one source by default: enough to keep a link
/// busy across a round trip, few enough that a faulty source wastes little.
const REQUESTS_PER_SOURCE_MAX: usize = 4;

/// The state to fetch: a stable checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub seq: Seq,
    pub state_digest: Digest,
}

/// How a fetcher paces its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchSettings {
    /// The cluster's chunk size: a manifest with another one is refused.
    pub chunk_bytes: u32,
    /// How long a source may take to answer one request before it goes to another.
    pub request_timeout_ticks: u64,
    /// How many requests may be outstanding at one source.
    pub requests_per_source_max: usize,
}

impl FetchSettings {
    /// The settings for a replica with this configuration. A request times out in the time
    /// the core gives a transfer without progress: while other sources deliver, a slow one
    /// loses its requests to them; when none delivers, the core asks again anyway.
    pub fn of(config: &Config) -> FetchSettings {
        FetchSettings {
            chunk_bytes: config.snapshot_chunk_bytes,
            request_timeout_ticks: config.state_transfer_timeout_ticks.max(1),
            requests_per_source_max: REQUESTS_PER_SOURCE_MAX,
        }
    }
}

/// What state transfer did, since the replica started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Targets the core asked for (a moved target counts again).
    pub fetches_started: u64,
    /// States handed to the core complete.
    pub fetches_completed: u64,
    pub manifests_received: u64,
    /// Manifests that did not match the signed state digest, or were malformed.
    pub manifests_refused: u64,
    /// Chunks that checked out, and their bytes.
    pub chunks_received: u64,
    pub bytes_received: u64,
    /// Chunks of a manifest that were held already and not fetched.
    pub chunks_reused: u64,
    /// Chunks that did not match the manifest.
    pub chunks_refused: u64,
    /// Chunk requests sent again for a chunk asked for before (after a refused chunk, a
    /// timeout, or a source that lacked the state).
    pub chunks_refetched: u64,
    /// Requests a source did not answer in time.
    pub requests_timed_out: u64,
    /// Manifests and chunks refused, by the replica that sent them.
    pub faults_by_source: BTreeMap<ReplicaId, u64>,
}

impl TransferStats {
    /// Adds `other`'s counts to these (a replica's runs, summed).
    pub fn add(&mut self, other: &TransferStats) {
        self.fetches_started += other.fetches_started;
        self.fetches_completed += other.fetches_completed;
        self.manifests_received += other.manifests_received;
        self.manifests_refused += other.manifests_refused;
        self.chunks_received += other.chunks_received;
        self.bytes_received += other.bytes_received;
        self.chunks_reused += other.chunks_reused;
        self.chunks_refused += other.chunks_refused;
        self.chunks_refetched += other.chunks_refetched;
        self.requests_timed_out += other.requests_timed_out;
        for (source, faults) in &other.faults_by_source {
            *self.faults_by_source.entry(*source).or_default() += faults;
        }
    }
}

/// What the driver must do after an input to the fetcher, in this order: prepare to
/// receive the state of `manifest`, keep `chunk`, hand `complete` to the core, send
/// `requests`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    pub requests: Vec<(ReplicaId, StateFrame)>,
    /// The target's manifest just checked out.
    pub manifest: Option<(Seq, Manifest)>,
    /// A chunk that checked out.
    pub chunk: Option<CheckedChunk>,
    /// Every chunk of the target is held: the state is complete.
    pub complete: Option<Complete>,
}

/// A complete state, for [`Input::StateFetched`](crate::core::Input::StateFetched).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Complete {
    pub seq: Seq,
    /// The replica that sent the manifest.
    pub from: ReplicaId,
    /// The manifest's root.
    pub app_digest: Digest,
    pub client_table: ClientTable,
}

#[derive(Debug)]
struct Source {
    replica: ReplicaId,
    /// Requests not answered in time since it last answered one.
    timeouts: u64,
    /// It said it does not hold the target.
    unavailable: bool,
    outstanding: usize,
}

#[derive(Clone, Copy, Debug)]
struct Asked {
    source: usize,
    deadline: u64,
}

#[derive(Debug)]
enum Phase {
    Manifest {
        asked: Option<Asked>,
    },
    Chunks {
        manifest: Manifest,
        client_table: ClientTable,
        from: ReplicaId,
        /// One index per distinct chunk digest not held and not asked for.
        missing: BTreeSet<u32>,
        asked: BTreeMap<u32, Asked>,
    },
    Complete,
}

#[derive(Debug)]
struct Fetch {
    target: Target,
    sources: Vec<Source>,
    phase: Phase,
    /// The sources each chunk was asked of, for this target: a chunk asked of a source
    /// before is taken from it even after its request went to another (a late answer
    /// still saves a transfer).
    requested: BTreeMap<u32, BTreeSet<ReplicaId>>,
}

/// The fetching side of one replica: the fetch under way, if any, and what fetching has
/// taught it (counters, and which sources sent something false).
#[derive(Debug)]
pub struct Fetcher {
    replica: ReplicaId,
    settings: FetchSettings,
    fetch: Option<Fetch>,
    stats: TransferStats,
}

impl Fetcher {
    pub fn new(replica: ReplicaId, settings: FetchSettings) -> Fetcher {
        Fetcher {
            replica,
            settings,
            fetch: None,
            stats: TransferStats::default(),
        }
    }

    pub fn stats(&self) -> &TransferStats {
        &self.stats
    }

    /// The state being fetched, if any.
    pub fn target(&self) -> Option<Target> {
        self.fetch.as_ref().map(|fetch| fetch.target)
    }

    /// Starts fetching `target` from `sources` (in order of preference). Asked again for
    /// the target under way, it goes on where it is: sources that lacked the state or were
    /// slow get another chance, and unanswered requests are asked again.
    pub fn start(&mut self, target: Target, sources: Vec<ReplicaId>, now: u64) -> Step {
        let sources: Vec<Source> = sources
            .into_iter()
            .filter(|&replica| replica != self.replica)
            .map(|replica| Source {
                replica,
                timeouts: 0,
                unavailable: false,
                outstanding: 0,
            })
            .collect();
        match self.fetch.as_mut() {
            Some(fetch) if fetch.target == target => {
                fetch.sources = sources;
                fetch.phase = match std::mem::replace(&mut fetch.phase, Phase::Complete) {
                    Phase::Chunks {
                        manifest,
                        client_table,
                        from,
                        mut missing,
                        asked,
                    } => {
                        missing.extend(asked.into_keys());
                        Phase::Chunks {
                            manifest,
                            client_table,
                            from,
                            missing,
                            asked: BTreeMap::new(),
                        }
                    }
                    Phase::Manifest { .. } | Phase::Complete => Phase::Manifest { asked: None },
                };
            }
            _ => {
                self.stats.fetches_started += 1;
                self.fetch = Some(Fetch {
                    target,
                    sources,
                    phase: Phase::Manifest { asked: None },
                    requested: BTreeMap::new(),
                });
            }
        }
        self.fill(now)
    }

    /// Forgets the fetch under way (the state was installed, or the core that asked for
    /// it is gone). What was learnt about the sources stays.
    pub fn stop(&mut self) {
        self.fetch = None;
    }

    /// Time passed: requests not answered in time go to other sources.
    pub fn on_tick(&mut self, now: u64) -> Step {
        let Some(fetch) = self.fetch.as_mut() else {
            return Step::default();
        };
        let mut expired = Vec::new();
        match &mut fetch.phase {
            Phase::Manifest { asked } => {
                if let Some(a) = asked.take_if(|a| a.deadline <= now) {
                    expired.push(a.source);
                }
            }
            Phase::Chunks { missing, asked, .. } => {
                let late: Vec<u32> = asked
                    .iter()
                    .filter(|(_, a)| a.deadline <= now)
                    .map(|(index, _)| *index)
                    .collect();
                for index in late {
                    if let Some(a) = asked.remove(&index) {
                        expired.push(a.source);
                        missing.insert(index);
                    }
                }
            }
            Phase::Complete => {}
        }
        for source in expired {
            let source = &mut fetch.sources[source];
            source.outstanding -= 1;
            source.timeouts += 1;
            self.stats.requests_timed_out += 1;
            tracing::info!(
                replica = %self.replica, from = %source.replica, seq = %fetch.target.seq,
                "state transfer request not answered in time: asking another replica"
            );
        }
        self.fill(now)
    }

    /// A frame answering a request of this fetcher. `held` says whether a chunk with a
    /// digest is held already (and so need not be fetched). Requests are not for the
    /// fetcher; they and frames about anything but the target are ignored.
    pub fn on_response(
        &mut self,
        from: ReplicaId,
        frame: StateFrame,
        now: u64,
        held: impl FnMut(&Digest) -> bool,
    ) -> Step {
        let target = match self.fetch.as_ref() {
            Some(fetch) => fetch.target,
            None => return Step::default(),
        };
        let mut step = match frame {
            StateFrame::Manifest {
                seq,
                manifest,
                client_table,
            } if seq == target.seq => self.on_manifest(from, manifest, client_table, held),
            StateFrame::Chunk { seq, index, data } if seq == target.seq => {
                self.on_chunk(from, index, data)
            }
            StateFrame::Unavailable { seq } if seq == target.seq => {
                self.on_unavailable(from);
                Step::default()
            }
            _ => return Step::default(),
        };
        if step.complete.is_none() {
            step.requests = self.fill(now).requests;
        }
        step
    }

    fn on_manifest(
        &mut self,
        from: ReplicaId,
        manifest: Manifest,
        client_table: ClientTable,
        mut held: impl FnMut(&Digest) -> bool,
    ) -> Step {
        let Some(fetch) = self.fetch.as_mut() else {
            return Step::default();
        };
        let Phase::Manifest { asked } = &mut fetch.phase else {
            return Step::default();
        };
        let Some(a) = asked.take_if(|a| fetch.sources[a.source].replica == from) else {
            return Step::default();
        };
        let source = &mut fetch.sources[a.source];
        source.outstanding -= 1;
        source.timeouts = 0;
        let target = fetch.target;
        let checked = manifest.check(self.settings.chunk_bytes).and_then(|()| {
            if manifest.matches(target.seq, &client_table, target.state_digest) {
                Ok(())
            } else {
                Err(TransferFault::StateDigestMismatch)
            }
        });
        if let Err(fault) = checked {
            self.stats.manifests_refused += 1;
            self.blame(from, target.seq, fault);
            return Step::default();
        }
        self.stats.manifests_received += 1;
        let mut missing = BTreeSet::new();
        let mut distinct = BTreeSet::new();
        for (index, digest) in manifest.chunk_digests().iter().enumerate() {
            if held(digest) {
                self.stats.chunks_reused += 1;
            } else if distinct.insert(*digest) {
                missing.insert(index as u32);
            }
        }
        tracing::info!(
            replica = %self.replica, %from, seq = %target.seq,
            chunks = manifest.chunk_count(), missing = missing.len(),
            "state transfer: the manifest matches the stable checkpoint"
        );
        let mut step = Step {
            manifest: Some((target.seq, manifest.clone())),
            ..Step::default()
        };
        fetch.phase = Phase::Chunks {
            manifest,
            client_table,
            from,
            missing,
            asked: BTreeMap::new(),
        };
        step.complete = self.complete_if_done();
        step
    }

    fn on_chunk(&mut self, from: ReplicaId, index: u32, data: Bytes) -> Step {
        let Some(fetch) = self.fetch.as_mut() else {
            return Step::default();
        };
        let Phase::Chunks {
            manifest,
            missing,
            asked,
            ..
        } = &mut fetch.phase
        else {
            return Step::default();
        };
        let Some(position) = fetch.sources.iter().position(|s| s.replica == from) else {
            return Step::default();
        };
        let asked_of_sender = asked.get(&index).is_some_and(|a| a.source == position);
        let late = !asked_of_sender
            && (missing.contains(&index) || asked.contains_key(&index))
            && fetch
                .requested
                .get(&index)
                .is_some_and(|sources| sources.contains(&from));
        if !asked_of_sender && !late {
            // Not asked of the sender, or no longer needed.
            return Step::default();
        }
        // A late answer (the request timed out and may have gone to another source since)
        // is as good as a timely one; the other request's answer is then ignored.
        if let Some(a) = asked.remove(&index) {
            fetch.sources[a.source].outstanding -= 1;
        }
        missing.remove(&index);
        let source = &mut fetch.sources[position];
        let seq = fetch.target.seq;
        match manifest.check_chunk(index, data) {
            Ok(chunk) => {
                source.timeouts = 0;
                self.stats.chunks_received += 1;
                self.stats.bytes_received += chunk.data().len() as u64;
                let complete = self.complete_if_done();
                Step {
                    chunk: Some(chunk),
                    complete,
                    ..Step::default()
                }
            }
            Err(fault) => {
                missing.insert(index);
                self.stats.chunks_refused += 1;
                self.blame(from, seq, fault);
                Step::default()
            }
        }
    }

    fn on_unavailable(&mut self, from: ReplicaId) {
        let Some(fetch) = self.fetch.as_mut() else {
            return;
        };
        let Some(position) = fetch.sources.iter().position(|s| s.replica == from) else {
            return;
        };
        tracing::info!(
            replica = %self.replica, %from, seq = %fetch.target.seq,
            "state transfer: the source lacks the state; asking another replica"
        );
        let source = &mut fetch.sources[position];
        source.unavailable = true;
        source.outstanding = 0;
        match &mut fetch.phase {
            Phase::Manifest { asked } => {
                asked.take_if(|a| a.source == position);
            }
            Phase::Chunks { missing, asked, .. } => {
                asked.retain(|index, a| {
                    let keep = a.source != position;
                    if !keep {
                        missing.insert(*index);
                    }
                    keep
                });
            }
            Phase::Complete => {}
        }
    }

    /// Counts a fault against the sender and says so.
    fn blame(&mut self, from: ReplicaId, seq: Seq, fault: TransferFault) {
        *self.stats.faults_by_source.entry(from).or_default() += 1;
        tracing::warn!(
            replica = %self.replica, %from, %seq, %fault,
            "state transfer: refused what a faulty replica sent; asking another replica"
        );
    }

    /// The state is complete once every chunk is held.
    fn complete_if_done(&mut self) -> Option<Complete> {
        let fetch = self.fetch.as_mut()?;
        let Phase::Chunks { missing, asked, .. } = &fetch.phase else {
            return None;
        };
        if !missing.is_empty() || !asked.is_empty() {
            return None;
        }
        let Phase::Chunks {
            manifest,
            client_table,
            from,
            ..
        } = std::mem::replace(&mut fetch.phase, Phase::Complete)
        else {
            unreachable!("matched above");
        };
        self.stats.fetches_completed += 1;
        Some(Complete {
            seq: fetch.target.seq,
            from,
            app_digest: manifest.root(),
            client_table,
        })
    }

    /// Sends what can be sent: the manifest request, or chunk requests up to each source's
    /// limit.
    fn fill(&mut self, now: u64) -> Step {
        let mut step = Step::default();
        let Some(fetch) = self.fetch.as_mut() else {
            return step;
        };
        let deadline = now + self.settings.request_timeout_ticks;
        let seq = fetch.target.seq;
        let faults = &self.stats.faults_by_source;
        match &mut fetch.phase {
            Phase::Manifest { asked } => {
                if asked.is_none()
                    && let Some(source) = pick(&fetch.sources, faults, 1)
                {
                    fetch.sources[source].outstanding += 1;
                    *asked = Some(Asked { source, deadline });
                    let to = fetch.sources[source].replica;
                    step.requests
                        .push((to, StateFrame::ManifestRequest { seq }));
                }
            }
            Phase::Chunks { missing, asked, .. } => {
                let limit = self.settings.requests_per_source_max;
                while let Some(&index) = missing.first() {
                    let Some(source) = pick(&fetch.sources, faults, limit) else {
                        break;
                    };
                    missing.remove(&index);
                    fetch.sources[source].outstanding += 1;
                    asked.insert(index, Asked { source, deadline });
                    let to = fetch.sources[source].replica;
                    let asked_of = fetch.requested.entry(index).or_default();
                    if !asked_of.is_empty() {
                        self.stats.chunks_refetched += 1;
                    }
                    asked_of.insert(to);
                    step.requests
                        .push((to, StateFrame::ChunkRequest { seq, index }));
                }
            }
            Phase::Complete => {}
        }
        step
    }
}

/// The source to ask next, if one can take a request: one that holds the state, with a
/// clean record if any such source is left, then the fewest unanswered timeouts, then the
/// fewest outstanding requests (which spreads the load), then the core's preference. A
/// source that timed out gets one request at a time.
fn pick(sources: &[Source], faults: &BTreeMap<ReplicaId, u64>, limit: usize) -> Option<usize> {
    let faults_of = |source: &Source| faults.get(&source.replica).copied().unwrap_or(0);
    let any_clean = sources
        .iter()
        .any(|source| !source.unavailable && faults_of(source) == 0);
    sources
        .iter()
        .enumerate()
        .filter(|(_, source)| !source.unavailable && (faults_of(source) == 0 || !any_clean))
        .filter(|(_, source)| {
            let limit = if source.timeouts > 0 { 1 } else { limit };
            source.outstanding < limit
        })
        .min_by_key(|(position, source)| {
            (
                faults_of(source),
                source.timeouts,
                source.outstanding,
                *position,
            )
        })
        .map(|(position, _)| position)
}

#[cfg(test)]
mod tests;
