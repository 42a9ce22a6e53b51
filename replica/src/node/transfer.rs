//! State transfer between processes (PBFT §5.3.2, whole checkpoints).
//!
//! The core decides what to fetch and judges the result; this part moves the bytes. The
//! receiver asks one source for one chunk at a time and streams each chunk straight into
//! the store, hashing as it goes, so memory holds one chunk however large the state is.
//! Only when the digest of the whole state matches what a quorum signed does the core
//! say to install it. A source that does not have the state, or sends something
//! malformed, is replaced by the next; one that sends a wrong state is caught by the
//! digest and the core asks another.

use bytes::Bytes;

use rampart_crypto::{Digest, DigestBuilder};

use crate::core::{ClientTable, Input};
use crate::fault::StateService;
use crate::message::{ReplicaId, Seq};
use crate::wire::{PeerFrame, StateChunk};

use super::NodeError;
use super::shell::Shell;

/// The largest state a peer may announce: a guard against a faulty peer filling the disk.
pub const SNAPSHOT_BYTES_MAX: u64 = 64 << 30;

/// The fetch under way, if any.
#[derive(Debug, Default)]
pub(super) struct Transfer {
    fetch: Option<Fetch>,
    /// The reply cache of the last fetched state, until the core says to install it.
    fetched: Option<(Seq, ClientTable)>,
}

#[derive(Debug)]
struct Fetch {
    seq: Seq,
    sources: Vec<ReplicaId>,
    source: usize,
    next_index: u32,
    chunk_count: u32,
    snapshot_len: u64,
    received: u64,
    hasher: DigestBuilder,
    client_table: Option<ClientTable>,
    /// Whether the store holds a partial incoming state for this fetch.
    begun: bool,
}

impl Fetch {
    fn new(seq: Seq, sources: Vec<ReplicaId>, source: usize) -> Fetch {
        Fetch {
            seq,
            sources,
            source,
            next_index: 0,
            chunk_count: 0,
            snapshot_len: 0,
            received: 0,
            hasher: DigestBuilder::new(),
            client_table: None,
            begun: false,
        }
    }

    fn current_source(&self) -> ReplicaId {
        self.sources[self.source % self.sources.len()]
    }
}

impl Shell {
    pub(super) fn start_fetch(
        &mut self,
        seq: Seq,
        _state_digest: Digest,
        from: Vec<ReplicaId>,
    ) -> Result<(), NodeError> {
        self.abort_fetch()?;
        if from.is_empty() {
            return Ok(());
        }
        self.transfer.fetch = Some(Fetch::new(seq, from, 0));
        self.request_chunk();
        Ok(())
    }

    fn abort_fetch(&mut self) -> Result<(), NodeError> {
        if let Some(fetch) = self.transfer.fetch.take()
            && fetch.begun
        {
            self.store.abort_incoming()?;
        }
        Ok(())
    }

    fn request_chunk(&mut self) {
        let Some(fetch) = &self.transfer.fetch else {
            return;
        };
        let (to, seq, index) = (fetch.current_source(), fetch.seq, fetch.next_index);
        self.queue_peer(to, PeerFrame::StateRequest { seq, index });
    }

    /// Moves to the next source and starts the state over.
    fn next_source(&mut self) -> Result<(), NodeError> {
        let Some(fetch) = self.transfer.fetch.take() else {
            return Ok(());
        };
        if fetch.begun {
            self.store.abort_incoming()?;
        }
        self.transfer.fetch = Some(Fetch::new(fetch.seq, fetch.sources, fetch.source + 1));
        self.request_chunk();
        Ok(())
    }

    pub(super) fn on_state_unavailable(&mut self, from: ReplicaId, seq: Seq) {
        let current = self
            .transfer
            .fetch
            .as_ref()
            .is_some_and(|f| f.seq == seq && f.current_source() == from);
        if current {
            tracing::info!(replica = %self.id, %from, %seq, "source lacks the state; trying the next");
            if let Err(error) = self.next_source() {
                tracing::error!(%error, "could not abandon a partial state");
            }
        }
    }

    pub(super) fn on_state_chunk(
        &mut self,
        from: ReplicaId,
        chunk: StateChunk,
    ) -> Result<(), NodeError> {
        let Some(fetch) = self.transfer.fetch.as_mut() else {
            return Ok(());
        };
        if chunk.seq != fetch.seq
            || from != fetch.current_source()
            || chunk.index != fetch.next_index
        {
            // Late or duplicated chunks of an abandoned request.
            return Ok(());
        }
        if chunk.index == 0 {
            let Some(client_table) = chunk.client_table.clone() else {
                tracing::warn!(%from, "first state chunk without the reply cache");
                return self.next_source();
            };
            if chunk.chunk_count == 0 || chunk.snapshot_len > SNAPSHOT_BYTES_MAX {
                tracing::warn!(%from, len = chunk.snapshot_len, "implausible state announced");
                return self.next_source();
            }
            fetch.chunk_count = chunk.chunk_count;
            fetch.snapshot_len = chunk.snapshot_len;
            fetch.client_table = Some(client_table);
            self.store.begin_incoming(fetch.seq, fetch.snapshot_len)?;
            fetch.begun = true;
        } else if chunk.client_table.is_some() || chunk.chunk_count != fetch.chunk_count {
            tracing::warn!(%from, "inconsistent state chunk");
            return self.next_source();
        }
        let fetch = self.transfer.fetch.as_mut().expect("present above");
        if fetch.received + chunk.data.len() as u64 > fetch.snapshot_len {
            tracing::warn!(%from, "state longer than announced");
            return self.next_source();
        }
        self.store.write_incoming_chunk(&chunk.data)?;
        let fetch = self.transfer.fetch.as_mut().expect("present above");
        fetch.hasher.update(&chunk.data);
        fetch.received += chunk.data.len() as u64;
        fetch.next_index += 1;
        if fetch.next_index < fetch.chunk_count {
            self.request_chunk();
            return Ok(());
        }
        if fetch.received != fetch.snapshot_len {
            tracing::warn!(%from, "state shorter than announced");
            return self.next_source();
        }
        let fetch = self.transfer.fetch.take().expect("present above");
        let client_table = fetch.client_table.unwrap_or_default();
        let app_digest = fetch.hasher.finish();
        self.transfer.fetched = Some((fetch.seq, client_table.clone()));
        // The store keeps the partial state until the core's verdict: install or ask again.
        self.feed(Input::StateFetched {
            seq: fetch.seq,
            from,
            app_digest,
            client_table,
        })
    }

    /// The core checked the fetched state against the stable checkpoint: keep it as this
    /// replica's checkpoint and restore the application from it.
    pub(super) fn install_state(
        &mut self,
        seq: Seq,
        state_digest: Digest,
    ) -> Result<(), NodeError> {
        let Some((fetched_seq, client_table)) = self.transfer.fetched.take() else {
            unreachable!("the core installs only a state it was just given");
        };
        assert_eq!(
            fetched_seq, seq,
            "installing a state other than the one fetched"
        );
        self.store.finish_incoming(state_digest, &client_table)?;
        let snapshot = self
            .store
            .read_snapshot(seq)?
            .ok_or(NodeError::StateVanished { seq })?;
        self.app.restore(&snapshot)?;
        self.last_checkpoint = Some((seq, state_digest));
        tracing::info!(replica = %self.id, %seq, bytes = snapshot.len(), "installed a fetched state");
        Ok(())
    }

    /// Serves chunk `index` of checkpoint `seq` to a peer.
    pub(super) fn serve_state(
        &mut self,
        to: ReplicaId,
        seq: Seq,
        index: u32,
    ) -> Result<(), NodeError> {
        let service = self
            .behaviour
            .as_ref()
            .map_or(StateService::Honest, |b| b.state_transfer());
        if service == StateService::Silent {
            return Ok(());
        }
        let Some(meta) = self.store.checkpoint_meta(seq)? else {
            self.queue_peer(to, PeerFrame::StateUnavailable { seq });
            return Ok(());
        };
        // An empty snapshot has no chunks in the store but travels as one empty chunk.
        let data = if meta.chunk_count == 0 && index == 0 {
            Some(Vec::new())
        } else {
            self.store.read_snapshot_chunk(seq, index)?
        };
        let Some(mut data) = data else {
            self.queue_peer(to, PeerFrame::StateUnavailable { seq });
            return Ok(());
        };
        if service == StateService::Corrupt
            && let Some(byte) = data.first_mut()
        {
            *byte ^= 0xff;
        }
        let chunk = StateChunk {
            seq,
            index,
            chunk_count: meta.chunk_count.max(1),
            snapshot_len: meta.snapshot_len,
            client_table: (index == 0).then_some(meta.client_table),
            data: Bytes::from(data),
        };
        self.queue_peer(to, PeerFrame::StateChunk(chunk));
        Ok(())
    }
}
