//! The Rampart client SDK: sends requests to a PBFT cluster and accepts results the
//! replicas agree on (Castro and Liskov, TOCS 2002, §4.1 and §5.1.3).
//!
//! - [`Client::submit`]: an ordered request; f + 1 matching results are the result,
//!   because at least one of those replicas is correct.
//! - [`Client::query`]: a read-only request answered by every replica from its current
//!   state; 2f + 1 matching answers, or else the operation is ordered.
//! - [`Client::submit_certified`]: an ordered request plus a [`Certificate`], the
//!   replicas' signed proof that it was committed, which anyone can check offline with
//!   [`Certificate::verify`].
//! - [`Client::execute`], [`Client::execute_certified`], [`Client::query_typed`]: the same
//!   for typed [`Application`](rampart_protocol::app::Application)s, except that a typed
//!   query is never ordered (see [`Client::query_typed`]).
//! - [`actuator::Actuator`]: acts on a shutdown decision of the interlock only when a
//!   certificate proves it, trusting no single agent or replica.
//! - [`Client::view`], [`Client::primary`]: the view f + 1 replicas report, asked of every
//!   replica at [`Client::connect`] and kept up to date from replies. Every request goes
//!   to every replica; the view tells the client which replicas answer it, so that it asks
//!   all of them to when one of those has not been heard from (a replica down after a view
//!   change) instead of waiting for a retransmission.
//!
//! ```no_run
//! # async fn example(
//! #     cluster: rampart_protocol::cluster::Cluster,
//! #     addresses: Vec<std::net::SocketAddr>,
//! #     key: rampart_crypto::KeyPair,
//! # ) -> Result<(), rampart_client::ClientError> {
//! use rampart_client::{Client, ClientConfig};
//!
//! let client = Client::connect(ClientConfig::new(cluster, addresses), key).await?;
//! let result = client.submit(bytes::Bytes::from_static(b"operation")).await?;
//! println!("{} bytes", result.len());
//! client.close().await;
//! # Ok(())
//! # }
//! ```

pub mod actuator;
mod certificate;
mod client;
mod config;
mod error;
mod in_flight;
mod pending;
mod router;
mod shared;
mod stats;
mod typed;
mod view;
mod window;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use certificate::{Certificate, CertificateError, VerifiedCommit};
pub use client::Client;
pub use config::ClientConfig;
pub use error::ClientError;
pub use stats::ClientStats;
