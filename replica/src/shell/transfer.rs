//! State transfer between processes (PBFT §5.3.2): the shell's side of
//! [`crate::transfer`].
//!
//! The [`Fetcher`] decides what to ask of whom and checks what arrives; this part keeps
//! what it accepts in the store (each chunk straight to RocksDB, so memory holds one chunk
//! however large the state), tells the core of progress and of the complete state, and
//! serves peers from the store. A state the store holds already is installed from there,
//! without a fetch.

use rampart_crypto::Digest;

use crate::core::{ClientTable, Config, Input};
use crate::fault::StateService;
use crate::message::{ReplicaId, Seq};
use crate::store::{Store, StoreError};
use crate::transfer::{
    FetchSettings, Fetcher, Manifest, StateFrame, StateHolder, Step, Target, TransferStats, answer,
};
use crate::wire::PeerFrame;

use super::{Network, Shell, ShellError, ShellEvent};

/// The fetching side of one replica.
#[derive(Debug)]
pub(super) struct Transfer {
    fetcher: Fetcher,
    /// The reply cache of the fetched state, until the core says to install it.
    fetched: Option<(Seq, ClientTable)>,
}

impl Transfer {
    pub(super) fn new(replica: ReplicaId, config: &Config) -> Transfer {
        Transfer {
            fetcher: Fetcher::new(replica, FetchSettings::of(config)),
            fetched: None,
        }
    }

    /// Forgets the fetch under way (the core that asked for it is being replaced); what
    /// the store received of it stays until the next fetch says what to keep.
    pub(super) fn reset(&mut self) {
        self.fetcher.stop();
        self.fetched = None;
    }

    pub(super) fn stats(&self) -> &TransferStats {
        self.fetcher.stats()
    }
}

impl StateHolder for Store {
    type Error = StoreError;

    fn manifest(&self, seq: Seq) -> Result<Option<(Manifest, ClientTable)>, StoreError> {
        Ok(self
            .checkpoint_meta(seq)?
            .map(|meta| (meta.manifest, meta.client_table)))
    }

    fn chunk(&self, seq: Seq, index: u32) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_snapshot_chunk(seq, index)
    }
}

impl<N: Network> Shell<N> {
    /// `Action::FetchState`: fetch the state of stable checkpoint `seq`, or go on fetching
    /// it. Returns what the core must hear at once: the state, if the store holds it.
    pub(super) fn start_fetch(
        &mut self,
        seq: Seq,
        state_digest: Digest,
        from: Vec<ReplicaId>,
    ) -> Result<Vec<Input>, ShellError> {
        if let Some(meta) = self.store.checkpoint_meta(seq)? {
            if meta.state_digest == state_digest {
                tracing::info!(replica = %self.id, %seq, "the stable checkpoint's state is stored already: installing it");
                self.transfer.fetcher.stop();
                self.transfer.fetched = Some((seq, meta.client_table.clone()));
                return Ok(vec![Input::StateFetched {
                    seq,
                    from: self.id,
                    app_digest: meta.manifest.root(),
                    client_table: meta.client_table,
                }]);
            }
            tracing::warn!(
                replica = %self.id, %seq,
                "this replica's stored state differs from the stable checkpoint: replacing it"
            );
            self.store.remove_checkpoint(seq)?;
        }
        let target = Target { seq, state_digest };
        let step = self.transfer.fetcher.start(target, from, self.core.now());
        self.carry_out_fetch(step)
    }

    /// A state transfer frame from a peer: a request to serve, or an answer for the fetcher.
    pub(super) fn on_state_frame(
        &mut self,
        from: ReplicaId,
        frame: StateFrame,
    ) -> Result<(), ShellError> {
        if frame.is_request() {
            return self.serve_state(from, &frame);
        }
        let now = self.core.now();
        let store = &self.store;
        let step = self
            .transfer
            .fetcher
            .on_response(from, frame, now, |digest| store.has_chunk(digest));
        for input in self.carry_out_fetch(step)? {
            self.feed(input)?;
        }
        Ok(())
    }

    /// A tick: requests not answered in time go to other sources.
    pub(super) fn transfer_tick(&mut self) -> Result<(), ShellError> {
        let step = self.transfer.fetcher.on_tick(self.core.now());
        for input in self.carry_out_fetch(step)? {
            self.feed(input)?;
        }
        Ok(())
    }

    /// Keeps what the fetcher accepted and sends its requests; returns the inputs for the
    /// core.
    fn carry_out_fetch(&mut self, step: Step) -> Result<Vec<Input>, ShellError> {
        let mut inputs = Vec::new();
        if let Some((seq, manifest)) = &step.manifest {
            self.store.begin_incoming(*seq, manifest)?;
        }
        if let Some(chunk) = &step.chunk {
            match self.store.write_incoming_chunk(chunk) {
                Err(StoreError::NoIncomingSnapshot) => {
                    // Garbage collection abandoned the state: the store keeps a newer one.
                    // The core asks again, or for another state, once its deadline passes.
                    tracing::warn!(replica = %self.id, "the state being fetched was abandoned");
                    self.transfer.fetcher.stop();
                    return Ok(inputs);
                }
                written => written?,
            }
            if let Some(target) = self.transfer.fetcher.target() {
                inputs.push(Input::StateProgress { seq: target.seq });
            }
        }
        if let Some(complete) = step.complete {
            tracing::info!(
                replica = %self.id, seq = %complete.seq,
                "every chunk of the state is in and checked"
            );
            self.transfer.fetched = Some((complete.seq, complete.client_table.clone()));
            inputs.push(Input::StateFetched {
                seq: complete.seq,
                from: complete.from,
                app_digest: complete.app_digest,
                client_table: complete.client_table,
            });
        }
        for (to, frame) in step.requests {
            self.queue_peer(to, PeerFrame::State(frame));
        }
        Ok(inputs)
    }

    /// The core checked the fetched state against the stable checkpoint: keep it as this
    /// replica's checkpoint and restore the application from it.
    pub(super) fn install_state(
        &mut self,
        seq: Seq,
        state_digest: Digest,
    ) -> Result<(), ShellError> {
        let Some((fetched_seq, client_table)) = self.transfer.fetched.take() else {
            unreachable!("the core installs only a state it was just given");
        };
        assert_eq!(
            fetched_seq, seq,
            "installing a state other than the one fetched"
        );
        self.transfer.fetcher.stop();
        if self.store.checkpoint_meta(seq)?.is_none() {
            self.store.finish_incoming(state_digest, &client_table)?;
        }
        let snapshot = self
            .store
            .read_snapshot(seq)?
            .ok_or(ShellError::StateVanished { seq })?;
        self.app.restore(&snapshot)?;
        self.last_checkpoint = Some((seq, state_digest));
        self.state_installs += 1;
        self.observe(ShellEvent::Checkpoint { seq, state_digest });
        tracing::info!(replica = %self.id, %seq, bytes = snapshot.len(), "installed a fetched state");
        Ok(())
    }

    /// Answers a peer's request for a manifest or a chunk from the store.
    fn serve_state(&mut self, to: ReplicaId, request: &StateFrame) -> Result<(), ShellError> {
        let service = self
            .behaviour
            .as_ref()
            .map_or(StateService::Honest, |b| b.state_transfer());
        match answer(&self.store, request, service) {
            Ok(Some(answer)) => self.queue_peer(to, PeerFrame::State(answer)),
            Ok(None) => {}
            // A damaged chunk of a stored state is not served: the peer's fetcher asks
            // another replica. This replica's own state is not at stake (a restore reads
            // and checks every chunk), so it goes on, and says so loudly.
            Err(error @ StoreError::Corrupted { .. }) => {
                tracing::error!(replica = %self.id, %to, %error, "a stored state is damaged: not served");
            }
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
