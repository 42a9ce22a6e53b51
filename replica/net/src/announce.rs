//! Announcing this process to the replicas with lower ids, which dial it rather than
//! being dialed, so that each of them hears from it whoever it dialed: a second process
//! running with this replica's key is then found by every peer, not only by the higher
//! ids (see `greeting`).

use std::sync::Arc;

use super::address::PeerAddress;
use super::backoff::Backoff;
use super::greeting::Greeting;
use super::link::{Dial, Dialer};
use super::stats::Counters;
use crate::message::ReplicaId;

/// Announces this process to `peer` until the peer answers (accepts or refuses it), or
/// serves a connection to it, having heard our HELLO there; with the dialer's backoff, so
/// a peer that is down costs what dialing it would. After that, once every idle timeout,
/// again if the peer does not serve us then: a second process started while the peer was
/// out of reach is heard of once it is back. A peer that lost its connection to us
/// redials us itself, so there is no hurry to announce to it.
pub(crate) async fn run_announcer(
    dialer: Dialer,
    peer: ReplicaId,
    greeting: Arc<Greeting>,
    counters: Arc<Counters>,
) {
    let timing = dialer.timing;
    let mut backoff = Backoff::new(timing.reconnect_min, timing.reconnect_max);
    loop {
        if greeting.is_served(peer) {
            break;
        }
        if !has_address(&dialer.address) {
            tokio::time::sleep(timing.reconnect_max).await;
            continue;
        }
        match dialer.dial(&counters).await {
            Dial::Connected(connection) if greeting.announce(&connection, peer).await => break,
            Dial::EndpointClosed => return,
            Dial::Connected(_) | Dial::Unresolved(_) | Dial::Failed => {}
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
    loop {
        tokio::time::sleep(timing.idle_timeout).await;
        if greeting.is_served(peer) || !has_address(&dialer.address) {
            continue;
        }
        match dialer.dial(&counters).await {
            Dial::Connected(connection) => {
                greeting.announce(&connection, peer).await;
            }
            Dial::EndpointClosed => return,
            Dial::Unresolved(_) | Dial::Failed => {}
        }
    }
}

/// Whether `address` can be dialed: an in-process cluster starts its replicas from the
/// highest id down, each on port 0, and gives each the ports of those above it only (the
/// ones it dials); the ports of those below it stay 0, and they dial it anyway.
fn has_address(address: &PeerAddress) -> bool {
    address.socket().is_none_or(|socket| socket.port() != 0)
}
