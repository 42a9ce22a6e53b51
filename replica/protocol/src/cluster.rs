//! The cluster description every replica and client shares: the cluster id and the
//! replicas' public keys, in replica-id order, which a [`ReplicaId`] indexes; and which
//! clients the replicas admit.
//!
//! It depends on nothing else in the crate: messages, their verification and the core
//! build on it.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use rampart_crypto::{ClusterId, PublicKey};

/// A replica's index in the cluster description.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Serialize, Deserialize,
)]
pub struct ReplicaId(pub u32);

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// The members of a cluster. PBFT's n is `replicas.len()`; it tolerates f = ⌊(n-1)/3⌋
/// Byzantine replicas (see `core/quorum.rs`, which defines the quorum sizes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: ClusterId,
    pub replicas: Vec<PublicKey>,
}

/// Why a cluster description cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("a cluster needs at least 4 replicas to tolerate one fault, got {count}")]
    TooFewReplicas { count: usize },
    #[error("replica {first} and replica {second} share the same public key")]
    DuplicateKey { first: u32, second: u32 },
    #[error("the public key of replica {replica} is invalid: {reason}")]
    InvalidKey { replica: u32, reason: String },
}

impl Cluster {
    pub fn new(id: ClusterId, replicas: Vec<PublicKey>) -> Result<Cluster, ClusterError> {
        let cluster = Cluster { id, replicas };
        cluster.validate()?;
        Ok(cluster)
    }

    /// Checks the description: enough replicas, distinct and valid keys.
    pub fn validate(&self) -> Result<(), ClusterError> {
        if self.replicas.len() < 4 {
            return Err(ClusterError::TooFewReplicas {
                count: self.replicas.len(),
            });
        }
        for (index, key) in self.replicas.iter().enumerate() {
            key.validate().map_err(|error| ClusterError::InvalidKey {
                replica: index as u32,
                reason: error.to_string(),
            })?;
            if let Some(first) = self.replicas[..index].iter().position(|other| other == key) {
                return Err(ClusterError::DuplicateKey {
                    first: first as u32,
                    second: index as u32,
                });
            }
        }
        Ok(())
    }

    /// n, the number of replicas.
    pub fn size(&self) -> usize {
        self.replicas.len()
    }

    pub fn key(&self, replica: ReplicaId) -> Option<PublicKey> {
        self.replicas.get(replica.0 as usize).copied()
    }

    pub fn replica_ids(&self) -> impl Iterator<Item = ReplicaId> + '_ {
        (0..self.replicas.len() as u32).map(ReplicaId)
    }

    /// The replica whose key is `key`, if any.
    pub fn replica_with_key(&self, key: &PublicKey) -> Option<ReplicaId> {
        self.replicas
            .iter()
            .position(|candidate| candidate == key)
            .map(|index| ReplicaId(index as u32))
    }
}

/// Which clients the replicas admit: only listed keys (the default), or any key.
///
/// Admission is decided right after the TLS handshake, which proves the client holds the
/// key; a client that is not admitted is told so and disconnected before anything it
/// sends is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAdmission {
    /// Only these keys. The default is an empty list: no client is admitted until the
    /// configuration lists it.
    Listed(Arc<BTreeSet<PublicKey>>),
    /// Any client with a valid ed25519 key. Strangers can then become clients, and each
    /// key they make gets its own quota and reply cache.
    Open,
}

impl Default for ClientAdmission {
    fn default() -> ClientAdmission {
        ClientAdmission::Listed(Arc::default())
    }
}

impl ClientAdmission {
    /// Admission for exactly `keys`.
    pub fn listed(keys: impl IntoIterator<Item = PublicKey>) -> ClientAdmission {
        ClientAdmission::Listed(Arc::new(keys.into_iter().collect()))
    }

    /// Whether a client holding `key` may connect.
    pub fn admits(&self, key: &PublicKey) -> bool {
        match self {
            ClientAdmission::Listed(keys) => keys.contains(key),
            ClientAdmission::Open => true,
        }
    }

    /// How many keys are listed; `None` when admission is open.
    pub fn listed_count(&self) -> Option<usize> {
        match self {
            ClientAdmission::Listed(keys) => Some(keys.len()),
            ClientAdmission::Open => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_crypto::KeyPair;

    fn keys(count: u64) -> Vec<PublicKey> {
        (0..count)
            .map(|i| KeyPair::from_seed(i).public_key())
            .collect()
    }

    #[test]
    fn admission_is_closed_unless_a_key_is_listed_or_admission_is_open() {
        let listed = KeyPair::from_seed(1).public_key();
        let stranger = KeyPair::from_seed(2).public_key();
        assert!(!ClientAdmission::default().admits(&listed));
        let admission = ClientAdmission::listed([listed]);
        assert!(admission.admits(&listed));
        assert!(!admission.admits(&stranger));
        assert!(ClientAdmission::Open.admits(&stranger));
    }

    #[test]
    fn bad_descriptions_are_refused() {
        assert_eq!(
            Cluster::new(ClusterId(1), keys(3)),
            Err(ClusterError::TooFewReplicas { count: 3 })
        );
        let mut duplicated = keys(4);
        duplicated[3] = duplicated[1];
        assert_eq!(
            Cluster::new(ClusterId(1), duplicated),
            Err(ClusterError::DuplicateKey {
                first: 1,
                second: 3
            })
        );
    }
}
