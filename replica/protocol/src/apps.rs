//! The applications that ship with Rampart, written on the typed [`Application`] layer:
//!
//! - [`kv`]: a key-value store, for tests, linearizability checks and benchmarks;
//! - [`interlock`]: a safety-shutdown interlock, where agents vote on shutting equipment
//!   down and the replicated state decides by a policy fixed at genesis.
//!
//! [`Application`]: crate::app::Application

pub mod interlock;
pub mod kv;
