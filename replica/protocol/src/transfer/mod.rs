//! State transfer (PBFT §5.3.2; TOCS §6.2): a replica behind the stable checkpoint fetches
//! that checkpoint's state from the replicas that signed it.
//!
//! The state travels as a [`Manifest`] (the snapshot's chunk digests) with the reply
//! cache, then chunk by chunk. The manifest's root is the application digest inside the
//! checkpoint digest 2f + 1 replicas signed, so the fetcher checks the manifest against the
//! signed digest before it asks for a chunk, and each chunk against the manifest as it
//! arrives. A faulty replica can therefore waste one request at a time, never a whole
//! transfer: its chunk is fetched again from another replica, and it is counted and
//! asked only when no replica with a clean record is left.
//!
//! [`Fetcher`] is the fetching side as a sans-IO state machine: the replica's shell and the
//! simulator drive the same code, each keeping the chunks where it keeps state. [`answer`]
//! is the serving side, with the fault-injection hook applied in one place.

mod fetch;
mod manifest;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::core::ClientTable;
use crate::fault::StateService;
use crate::message::Seq;

pub use fetch::{Complete, FetchSettings, Fetcher, Step, Target, TransferStats};
pub use manifest::{CheckedChunk, Manifest, SNAPSHOT_BYTES_MAX, TransferFault, chunk_digest};

/// The default size of a snapshot chunk, defined with the configuration it is the default of.
pub use crate::core::SNAPSHOT_CHUNK_BYTES;

/// What replicas send each other to move a checkpoint's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateFrame {
    /// The manifest and reply cache of checkpoint `seq`, please.
    ManifestRequest { seq: Seq },
    /// The manifest and reply cache of checkpoint `seq`: checked by the receiver against
    /// the state digest a quorum signed, so they need no signature of their own.
    Manifest {
        seq: Seq,
        manifest: Manifest,
        client_table: ClientTable,
    },
    /// Chunk `index` of the snapshot of checkpoint `seq`, please.
    ChunkRequest { seq: Seq, index: u32 },
    /// One chunk, checked by the receiver against the manifest.
    Chunk { seq: Seq, index: u32, data: Bytes },
    /// The sender does not hold checkpoint `seq` (any more).
    Unavailable { seq: Seq },
}

impl StateFrame {
    /// Whether the frame asks for something (and so is for the serving side).
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            StateFrame::ManifestRequest { .. } | StateFrame::ChunkRequest { .. }
        )
    }
}

/// Where a replica keeps its checkpoint states, as the serving side sees it.
pub trait StateHolder {
    type Error;

    /// The manifest and reply cache of the checkpoint state at `seq`, if held.
    fn manifest(&self, seq: Seq) -> Result<Option<(Manifest, ClientTable)>, Self::Error>;

    /// Chunk `index` of the snapshot at `seq`, if held.
    fn chunk(&self, seq: Seq, index: u32) -> Result<Option<Vec<u8>>, Self::Error>;
}

/// The answer to a state transfer request, as `service` says to serve it: honestly, not
/// at all, or corrupted (fault injection, see [`StateService`]). `None` for frames that
/// are not requests, and for a silent replica.
pub fn answer<H: StateHolder>(
    holder: &H,
    request: &StateFrame,
    service: StateService,
) -> Result<Option<StateFrame>, H::Error> {
    if service == StateService::Silent {
        return Ok(None);
    }
    let answer = match *request {
        StateFrame::ManifestRequest { seq } => match holder.manifest(seq)? {
            Some((manifest, client_table)) => StateFrame::Manifest {
                seq,
                manifest: if service == StateService::Corrupt {
                    manifest.falsified()
                } else {
                    manifest
                },
                client_table,
            },
            None => StateFrame::Unavailable { seq },
        },
        StateFrame::ChunkRequest { seq, index } => match holder.chunk(seq, index)? {
            Some(mut data) => {
                if service.corrupts_chunk(index) {
                    match data.first_mut() {
                        Some(byte) => *byte ^= 0xff,
                        None => data.push(0),
                    }
                }
                StateFrame::Chunk {
                    seq,
                    index,
                    data: Bytes::from(data),
                }
            }
            None => StateFrame::Unavailable { seq },
        },
        StateFrame::Manifest { .. } | StateFrame::Chunk { .. } | StateFrame::Unavailable { .. } => {
            return Ok(None);
        }
    };
    Ok(Some(answer))
}
