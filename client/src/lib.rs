//! The Rampart client SDK: sends requests to a PBFT cluster and accepts results the
//! replicas agree on (Castro and Liskov, TOCS 2002, §4.1 and §5.1.3).
//!
//! [`Certificate`]s are the replicas' signed proof that a request was committed, which
//! anyone can check offline with [`Certificate::verify`].

mod certificate;

#[cfg(test)]
mod test_support;

pub use certificate::{Certificate, CertificateError, VerifiedCommit};
