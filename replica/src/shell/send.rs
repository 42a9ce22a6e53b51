//! What leaves the shell: made durable first (group commit), then sent; a Byzantine
//! replica's behaviour rewrites it on the way out.

use bytes::Bytes;

use rampart_crypto::PublicKey;

use crate::fault::{Behaviour, Context};
use crate::message::{Message, ReplicaId, encode};
use crate::net::{Lane, SendError};
use crate::wire::{PeerFrame, ReplicaFrame};

use super::{Network, Shell, ShellError};

/// Something to send once the round is durable.
#[derive(Debug)]
pub(super) enum Outgoing {
    /// A protocol message, to one replica or (None) to all others.
    Protocol {
        to: Option<ReplicaId>,
        message: Message,
    },
    Peer {
        to: ReplicaId,
        frame: PeerFrame,
    },
    Client {
        client: PublicKey,
        frame: ReplicaFrame,
    },
}

impl<N: Network> Shell<N> {
    pub(super) fn behaviour_tick(&mut self) {
        let Some((behaviour, mut context)) = self.faulty() else {
            return;
        };
        let messages = behaviour.on_tick(&mut context);
        for (to, message) in messages {
            // Already rewritten by the behaviour: sent as is.
            let frame = Bytes::from(encode(&PeerFrame::Protocol(message)));
            let _ = self.network.send_on(Lane::Protocol, to, frame);
        }
    }

    pub(super) fn queue_peer(&mut self, to: ReplicaId, frame: PeerFrame) {
        self.outgoing.push(Outgoing::Peer { to, frame });
    }

    /// Makes the round durable, then sends what it produced.
    pub fn flush(&mut self) -> Result<(), ShellError> {
        self.persist_round()?;
        for outgoing in std::mem::take(&mut self.outgoing) {
            self.send(outgoing);
        }
        Ok(())
    }

    /// Writes what the round made durable, in one atomic batch.
    pub(super) fn persist_round(&mut self) -> Result<(), ShellError> {
        if !self.pending_ops.is_empty() || !self.pending_own.is_empty() {
            self.store.commit(&self.pending_ops, &self.pending_own)?;
            for op in &self.pending_ops {
                self.progress.note(op);
            }
            self.pending_ops.clear();
            self.pending_own.clear();
        }
        Ok(())
    }

    fn send(&mut self, outgoing: Outgoing) {
        match outgoing {
            Outgoing::Protocol { to, message } => {
                let targets: Vec<ReplicaId> = match to {
                    Some(to) => vec![to],
                    None => self
                        .core
                        .config()
                        .cluster
                        .replica_ids()
                        .filter(|&r| r != self.id)
                        .collect(),
                };
                if self.behaviour.is_none() {
                    // One encoding, shared by every target.
                    let frame = PeerFrame::Protocol(message);
                    let lane = lane(&frame);
                    let frame = Bytes::from(encode(&frame));
                    for target in targets {
                        self.send_frame(target, lane, frame.clone());
                    }
                    return;
                }
                for target in targets {
                    let messages = self.rewrite(target, message.clone());
                    for message in messages {
                        let frame = PeerFrame::Protocol(message);
                        let lane = lane(&frame);
                        self.send_frame(target, lane, Bytes::from(encode(&frame)));
                    }
                }
            }
            Outgoing::Peer { to, frame } => {
                self.send_frame(to, lane(&frame), Bytes::from(encode(&frame)));
            }
            Outgoing::Client { client, frame } => {
                let frame = Bytes::from(encode(&frame));
                let sent = self.network.send_to_client(client, frame);
                if let Err(error @ SendError::FrameTooLarge { .. }) = &sent {
                    self.too_large(error);
                } else if let Err(error) = sent {
                    tracing::debug!(client = %client.short(), %error, "reply not sent");
                }
            }
        }
    }

    fn rewrite(&mut self, target: ReplicaId, message: Message) -> Vec<Message> {
        match self.faulty() {
            Some((behaviour, mut context)) => behaviour.outbound(&mut context, target, message),
            None => vec![message],
        }
    }

    /// The fault-injection behaviour, if this replica has one, with what it may use.
    pub(super) fn faulty(&mut self) -> Option<(&mut dyn Behaviour, Context<'_>)> {
        let behaviour = self.behaviour.as_deref_mut()?;
        let config = self.core.config();
        let context = Context {
            me: self.id,
            signer: self.signer.as_ref(),
            cluster: config.cluster.id,
            replica_count: config.replica_count(),
            rng: &mut self.rng,
            now: self.core.now(),
        };
        Some((behaviour, context))
    }

    fn send_frame(&mut self, to: ReplicaId, lane: Lane, frame: Bytes) {
        match self.network.send_on(lane, to, frame) {
            Ok(()) => {}
            Err(error @ SendError::FrameTooLarge { .. }) => self.too_large(&error),
            // PBFT tolerates loss; STATUS-driven retransmission recovers what is dropped.
            Err(error) => tracing::debug!(replica = %self.id, %to, %error, "frame not sent"),
        }
    }

    /// A message over the frame cap. Protocol messages are kept within it by the
    /// configuration's bounds (`Config::message_bytes_max`); a reply can exceed it when the
    /// application returns a larger result than the client's frame cap allows. Never
    /// silent: an error in the log and a counter in the status.
    fn too_large(&mut self, error: &SendError) {
        self.messages_too_large += 1;
        tracing::error!(
            replica = %self.id, %error,
            "a message too large for the frame cap was not sent"
        );
    }
}

/// The transport lane a frame to a replica takes: relayed requests, fetched batches and
/// state transfer are bulk, so that however large they are they never hold up the
/// protocol's own messages (see `net::Lane`).
fn lane(frame: &PeerFrame) -> Lane {
    match frame {
        PeerFrame::Protocol(Message::Request(_)) | PeerFrame::Batch(_) | PeerFrame::State(_) => {
            Lane::Bulk
        }
        PeerFrame::Protocol(_) | PeerFrame::BatchRequest { .. } => Lane::Protocol,
    }
}
