//! Scenario tests: a real client against fake replicas on loopback QUIC, each answering
//! client frames by rules the test sets.

mod admission;
mod certified;
mod fake_cluster;
mod ordered;
mod read_only;
mod typed;
mod view;
