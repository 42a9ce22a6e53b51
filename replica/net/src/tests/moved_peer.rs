//! A peer configured by name that comes back on another address (a rescheduled pod, a
//! recreated container) is found there: the name is looked up before every dial.

use std::sync::{Arc, Mutex};

use super::*;

/// The name the dialer knows replica 1 by.
const NAME: &str = "replica-1.rampart.test";

#[tokio::test]
async fn a_peer_dialed_by_name_is_found_at_its_new_address_after_it_moves() {
    let mut harness = Harness::new(4);
    let replica_3 = harness.start(3).await;
    let replica_2 = harness.start(2).await;
    let mut replica_1 = harness.start(1).await;

    // The name's current address, as a DNS server would answer it; and every lookup.
    let current = Arc::new(Mutex::new(harness.addresses[1]));
    let lookups = Arc::new(Mutex::new(Vec::new()));
    let mut config = harness.config(0);
    config.replica_addresses[1] = PeerAddress::Name {
        host: NAME.to_string(),
        port: harness.addresses[1].port(),
    };
    config.resolver = {
        let current = Arc::clone(&current);
        let lookups = Arc::clone(&lookups);
        Resolver::new(move |host, _port| {
            assert_eq!(host, NAME);
            let address = *current.lock().expect("lock");
            lookups.lock().expect("lock").push(address);
            Ok(vec![address])
        })
    };
    let replica_0 = harness.start_with(0, config).await;
    deliver_eventually(&replica_0, &mut replica_1, b"before the move").await;

    // Replica 1 moves: its old address goes dead (a socket that never answers holds it, so
    // that nothing else can take it), and it comes back on a new one under the same name.
    let old_address = harness.addresses[1];
    replica_1.transport.shutdown().await;
    let _dead_old_address = std::net::UdpSocket::bind(old_address).expect("hold the old port");
    let mut moved = harness.config(1);
    moved.listen = any_port();
    let mut replica_1 = harness.start_with(1, moved).await;
    let new_address = harness.addresses[1];
    assert_ne!(new_address, old_address);
    *current.lock().expect("lock") = new_address;

    deliver_eventually(&replica_0, &mut replica_1, b"after the move").await;
    let lookups = lookups.lock().expect("lock").clone();
    assert!(
        lookups.contains(&new_address),
        "the dialer looked the name up again: {lookups:?}"
    );
    shutdown_all(vec![replica_0, replica_1, replica_2, replica_3]).await;
}
