//! What a replica receives, in two lanes: frames from replicas and frames from clients.
//!
//! Each lane is a bounded channel of its own, so a client lane filled by clients (or by
//! strangers holding client connections) never makes a replica's reader wait: the
//! protocol's messages keep their own capacity. The receiving side takes replicas' frames
//! first, but never only those: of each batch, up to three quarters go to replicas and the
//! rest to clients, so neither a flood of client requests nor a faulty replica flooding
//! its peers can starve the other lane.

use bytes::Bytes;
use rampart_crypto::PublicKey;
use tokio::sync::mpsc;

use crate::message::ReplicaId;

/// A frame received by a replica, with who sent it. A replica is known by its id, a client
/// by its key; either was proved by the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Replica { from: ReplicaId, frame: Bytes },
    Client { from: PublicKey, frame: Bytes },
}

/// The sending sides of the two lanes, held by the transport's readers.
#[derive(Debug, Clone)]
pub(crate) struct Lanes {
    pub(crate) replicas: mpsc::Sender<Inbound>,
    pub(crate) clients: mpsc::Sender<Inbound>,
}

/// Two lanes of `frames` frames each, and their receiving side.
pub(crate) fn lanes(frames: usize) -> (Lanes, InboundReceiver) {
    let (replicas, replica_receiver) = mpsc::channel(frames);
    let (clients, client_receiver) = mpsc::channel(frames);
    let receiver = InboundReceiver {
        replicas: replica_receiver,
        clients: client_receiver,
        waiter: None,
    };
    (Lanes { replicas, clients }, receiver)
}

/// The receiving side of a replica's transport: everything peers and clients sent.
#[derive(Debug)]
pub struct InboundReceiver {
    replicas: mpsc::Receiver<Inbound>,
    clients: mpsc::Receiver<Inbound>,
    /// Lets a thread outside any async runtime wait on both lanes at once.
    waiter: Option<tokio::runtime::Runtime>,
}

impl InboundReceiver {
    /// The next frame, a replica's before a client's; waits for one. `None` once the
    /// transport is gone and both lanes are empty.
    pub async fn recv(&mut self) -> Option<Inbound> {
        tokio::select! {
            biased;
            Some(frame) = self.replicas.recv() => Some(frame),
            Some(frame) = self.clients.recv() => Some(frame),
            else => None,
        }
    }

    /// A frame if one is waiting, a replica's before a client's.
    pub fn try_recv(&mut self) -> Option<Inbound> {
        self.replicas
            .try_recv()
            .or_else(|_| self.clients.try_recv())
            .ok()
    }

    /// Up to `frames_max` frames, waiting for the first: replicas' frames up to three
    /// quarters of `frames_max`, then clients' frames, then replicas' again if room is
    /// left. `None` once the transport is gone and both lanes are empty. For threads
    /// outside the async runtime only, like [`mpsc::Receiver::blocking_recv`].
    pub fn blocking_batch(&mut self, frames_max: usize) -> Option<Vec<Inbound>> {
        let frames_max = frames_max.max(1);
        let mut batch = Vec::new();
        self.fill(&mut batch, frames_max);
        if batch.is_empty() {
            let first = self.blocking_recv()?;
            batch.push(first);
            self.fill(&mut batch, frames_max);
        }
        Some(batch)
    }

    /// Takes what is waiting into `batch`, up to `frames_max` frames in all.
    fn fill(&mut self, batch: &mut Vec<Inbound>, frames_max: usize) {
        let replica_share = (frames_max * 3 / 4).max(1);
        take(&mut self.replicas, batch, replica_share);
        take(&mut self.clients, batch, frames_max);
        take(&mut self.replicas, batch, frames_max);
    }

    fn blocking_recv(&mut self) -> Option<Inbound> {
        if self.waiter.is_none() {
            // A runtime of the current thread, with no I/O or timers: only the channels'
            // own wake-ups. Building it fails only when the system is out of resources,
            // and then each lane is waited on in turn, replicas first.
            self.waiter = tokio::runtime::Builder::new_current_thread().build().ok();
        }
        match self.waiter.take() {
            Some(waiter) => {
                let frame = waiter.block_on(self.recv());
                self.waiter = Some(waiter);
                frame
            }
            None => self
                .replicas
                .blocking_recv()
                .or_else(|| self.clients.blocking_recv()),
        }
    }
}

/// Moves waiting frames from `lane` into `batch` until it holds `until` frames.
fn take(lane: &mut mpsc::Receiver<Inbound>, batch: &mut Vec<Inbound>, until: usize) {
    while batch.len() < until {
        match lane.try_recv() {
            Ok(frame) => batch.push(frame),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(index: u8) -> Inbound {
        Inbound::Replica {
            from: ReplicaId(1),
            frame: Bytes::from(vec![index]),
        }
    }

    fn client(index: u8) -> Inbound {
        Inbound::Client {
            from: rampart_crypto::KeyPair::from_seed(1).public_key(),
            frame: Bytes::from(vec![index]),
        }
    }

    fn is_replica(frame: &Inbound) -> bool {
        matches!(frame, Inbound::Replica { .. })
    }

    #[test]
    fn a_full_client_lane_leaves_the_replica_lane_its_capacity() {
        let (lanes, _receiver) = lanes(4);
        for index in 0..4 {
            lanes.clients.try_send(client(index)).expect("room");
        }
        assert!(lanes.clients.try_send(client(9)).is_err());
        for index in 0..4 {
            lanes
                .replicas
                .try_send(replica(index))
                .expect("the replica lane has room");
        }
    }

    #[test]
    fn batches_take_replicas_first_but_keep_a_quarter_for_clients() {
        let (lanes, mut receiver) = lanes(64);
        for index in 0..40 {
            lanes.clients.try_send(client(index)).expect("room");
            lanes.replicas.try_send(replica(index)).expect("room");
        }
        let batch = receiver.blocking_batch(16).expect("frames");
        assert_eq!(batch.len(), 16);
        assert!(batch[..12].iter().all(is_replica));
        assert!(batch[12..].iter().all(|frame| !is_replica(frame)));
        // Replicas take three quarters of every batch while clients wait...
        let replicas_per_batch: Vec<usize> = (0..4)
            .map(|_| {
                let batch = receiver.blocking_batch(16).expect("frames");
                batch.iter().filter(|frame| is_replica(frame)).count()
            })
            .collect();
        assert_eq!(replicas_per_batch, [12, 12, 4, 0]);
        // ...and the whole batch when no client waits.
        for index in 0..20 {
            lanes.replicas.try_send(replica(index)).expect("room");
        }
        let batch = receiver.blocking_batch(16).expect("frames");
        assert_eq!(batch.len(), 16);
        assert!(batch.iter().all(is_replica));
    }

    #[test]
    fn the_receiver_ends_once_both_lanes_are_closed_and_drained() {
        let (lanes, mut receiver) = lanes(4);
        lanes.clients.try_send(client(1)).expect("room");
        drop(lanes);
        assert_eq!(receiver.blocking_batch(8), Some(vec![client(1)]));
        assert_eq!(receiver.blocking_batch(8), None);
    }

    #[test]
    fn a_waiting_receiver_wakes_for_either_lane() {
        let (lanes, mut receiver) = lanes(4);
        let waiting = std::thread::spawn(move || receiver.blocking_batch(8));
        std::thread::sleep(std::time::Duration::from_millis(20));
        lanes.clients.try_send(client(7)).expect("room");
        assert_eq!(waiting.join().expect("joins"), Some(vec![client(7)]));
    }
}
