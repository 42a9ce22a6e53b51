//! The targets, by the input they decode.

pub mod app;
pub mod client;
pub mod config;
pub mod core;
pub mod frame;
pub mod key_file;
pub mod message;
pub mod store;
pub mod transfer;
pub mod wire;

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use rampart_replica::message::{decode, encode};

use crate::Outcome;

/// Decodes `bytes` as Rampart decodes what it receives, and checks that what decoded
/// survives its own encoding.
fn decoded<T>(what: &'static str, bytes: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let value: T = decode(what, bytes).ok()?;
    let again: T = decode(what, &encode(&value))
        .unwrap_or_else(|error| panic!("{what} does not decode from its own encoding: {error}"));
    assert_eq!(again, value, "{what} changed through its own encoding");
    Some(value)
}

fn outcome<T, E>(result: Result<T, E>) -> Outcome {
    match result {
        Ok(_) => Outcome::Accepted,
        Err(_) => Outcome::Refused,
    }
}
