//! The applications that ship with Rampart, written on the typed [`Application`] layer:
//!
//! - [`kv`]: a key-value store, for tests, linearizability checks and benchmarks.
//!
//! [`Application`]: crate::app::Application

pub mod kv;
