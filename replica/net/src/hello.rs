//! HELLO: the first thing either side of a replica-to-replica connection sends, on a
//! unidirectional stream of its own that carries nothing else.
//!
//! TLS has already proved which key the peer holds; HELLO says with what it runs: the
//! cluster id and the cluster settings (see [`rampart_protocol::settings`]), so that a
//! replica with other settings is refused with a line that names each setting that
//! differs instead of failing later on signatures it cannot check, and a boot id, drawn
//! afresh at every start of a transport, so that two processes running with one key can
//! be told apart (see `greeting`).
//!
//! The stream is opened before any other stream of the connection, so it is the first the
//! peer accepts; it holds one frame and ends.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use rampart_crypto::ClusterId;

use super::frame::{FrameError, framed, read_frame};
use crate::message::ReplicaId;
use crate::settings::{APPLICATION_NAME_BYTES_MAX, ClusterSettings};

/// The largest HELLO accepted: the settings of a cluster of about 2,000 replicas.
pub(crate) const HELLO_BYTES_MAX: usize = 64 * 1024;

/// Why a connection was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Purpose {
    /// The connection that joins two replicas, made by the lower id; both then use it.
    Link,
    /// A replica announcing itself to one with a lower id, which dials it and so would not
    /// otherwise hear from a second process running with its key (see `greeting`). The
    /// peer answers by closing the connection: accepted, or refused.
    Announce,
}

/// What a replica says first on every connection to another replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub(crate) purpose: Purpose,
    /// Who the sender says it is; it must be the replica whose key TLS proved.
    pub(crate) replica: ReplicaId,
    /// Drawn at random when the sender's transport started.
    pub(crate) boot_id: u64,
    pub(crate) cluster: ClusterId,
    pub(crate) settings: ClusterSettings,
}

/// Why a peer's HELLO could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HelloError {
    #[error("the connection closed before the peer's HELLO arrived")]
    Closed,
    #[error("the peer's HELLO stream broke: {source}")]
    Stream {
        #[from]
        source: FrameError,
    },
    #[error("the peer's HELLO stream ended without a HELLO")]
    Missing,
    #[error("the peer's HELLO stream carries more than the HELLO")]
    Trailing,
    #[error("the peer's HELLO cannot be decoded: {reason}")]
    Undecodable { reason: String },
    #[error("the peer's HELLO names an application of {bytes} bytes, more than the {max} allowed")]
    ApplicationName { bytes: usize, max: usize },
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<HELLO_BYTES_MAX>()
}

impl Hello {
    pub(crate) fn encode(&self) -> Bytes {
        // A HELLO is a few plain fields: encoding one cannot fail.
        Bytes::from(bincode::serde::encode_to_vec(self, config()).unwrap_or_default())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Hello, HelloError> {
        let (hello, read): (Hello, usize) = bincode::serde::decode_from_slice(bytes, config())
            .map_err(|error| HelloError::Undecodable {
                reason: error.to_string(),
            })?;
        if read != bytes.len() {
            return Err(HelloError::Undecodable {
                reason: format!("{} bytes follow it", bytes.len() - read),
            });
        }
        let name = hello.settings.application.len();
        if name > APPLICATION_NAME_BYTES_MAX {
            return Err(HelloError::ApplicationName {
                bytes: name,
                max: APPLICATION_NAME_BYTES_MAX,
            });
        }
        Ok(hello)
    }
}

/// Sends `hello` on a new unidirectional stream of its own, and ends the stream.
pub(crate) async fn send_hello(
    connection: &quinn::Connection,
    hello: &Hello,
) -> Result<(), HelloError> {
    let mut stream = connection
        .open_uni()
        .await
        .map_err(|_| HelloError::Closed)?;
    stream
        .write_all(&framed(&hello.encode()))
        .await
        .map_err(|_| HelloError::Closed)?;
    // Fails only on a stream already reset, which the peer then reports.
    let _ = stream.finish();
    Ok(())
}

/// Reads the peer's HELLO: the only frame on the first stream it opens.
pub(crate) async fn receive_hello(connection: &quinn::Connection) -> Result<Hello, HelloError> {
    let mut stream = connection
        .accept_uni()
        .await
        .map_err(|_| HelloError::Closed)?;
    let frame = read_frame(&mut stream, HELLO_BYTES_MAX)
        .await?
        .ok_or(HelloError::Missing)?;
    // Reading the end of the stream frees it, so that the peer may open the streams of its
    // lanes (see `tls`, which allows two at a time).
    if read_frame(&mut stream, HELLO_BYTES_MAX).await?.is_some() {
        return Err(HelloError::Trailing);
    }
    Hello::decode(&frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_crypto::KeyPair;
    use rampart_protocol::cluster::Cluster;
    use rampart_protocol::core::Config;

    fn hello() -> Hello {
        let replicas = (0..4).map(|i| KeyPair::from_seed(i).public_key()).collect();
        let cluster = Cluster::new(ClusterId(7), replicas).expect("four distinct replicas");
        Hello {
            purpose: Purpose::Announce,
            replica: ReplicaId(3),
            boot_id: 0x1234_5678_9abc_def0,
            cluster: ClusterId(7),
            settings: Config::new(cluster).settings("kv"),
        }
    }

    #[test]
    fn a_hello_decodes_to_itself() {
        assert_eq!(Hello::decode(&hello().encode()).expect("decodes"), hello());
    }

    #[test]
    fn malformed_hellos_are_refused() {
        let bytes = hello().encode();
        assert!(Hello::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(matches!(
            Hello::decode(&longer),
            Err(HelloError::Undecodable { .. })
        ));
        let mut long_name = hello();
        long_name.settings.application = "a".repeat(APPLICATION_NAME_BYTES_MAX + 1);
        assert!(matches!(
            Hello::decode(&long_name.encode()),
            Err(HelloError::ApplicationName { .. })
        ));
    }
}
