//! Where a peer is reached: an IP address and port, or a DNS name that is looked up again
//! before every dial.
//!
//! A name stands for whatever address its owner has now. A replica that comes back on
//! another IP address (a rescheduled Kubernetes pod, a recreated container) keeps its name,
//! so looking the name up once, at start, would leave its peers dialing the old address
//! until they restart; looking it up before each dial finds it at the new one.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// A peer's address as configured.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeerAddress {
    /// An IP address and port, dialed as it is.
    Socket(SocketAddr),
    /// A DNS name and port, looked up with the transport's [`Resolver`] before every
    /// dial.
    Name { host: String, port: u16 },
}

impl PeerAddress {
    /// The address itself, when it needs no lookup.
    pub fn socket(&self) -> Option<SocketAddr> {
        match self {
            PeerAddress::Socket(address) => Some(*address),
            PeerAddress::Name { .. } => None,
        }
    }

    /// Where a replica with this address listens: the address itself, or every interface
    /// on the name's port (a name can stand for an address the process cannot bind, such
    /// as a load balancer's).
    pub fn listen_address(&self) -> SocketAddr {
        match self {
            PeerAddress::Socket(address) => *address,
            PeerAddress::Name { port, .. } => SocketAddr::from((Ipv4Addr::UNSPECIFIED, *port)),
        }
    }
}

impl From<SocketAddr> for PeerAddress {
    fn from(address: SocketAddr) -> PeerAddress {
        PeerAddress::Socket(address)
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddress::Socket(address) => write!(f, "{address}"),
            PeerAddress::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

type Lookup = dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync;

/// Looks names up: the operating system's resolver (`/etc/hosts`, DNS) by default; tests
/// substitute a table they change.
#[derive(Clone)]
pub struct Resolver {
    lookup: Arc<Lookup>,
}

impl Resolver {
    /// The operating system's resolver.
    pub fn system() -> Resolver {
        Resolver::new(|host, port| {
            use std::net::ToSocketAddrs;
            Ok((host, port).to_socket_addrs()?.collect())
        })
    }

    /// A resolver that answers with `lookup`. It may block: it runs on a blocking thread.
    pub fn new(
        lookup: impl Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
    ) -> Resolver {
        Resolver {
            lookup: Arc::new(lookup),
        }
    }

    /// The address to dial for `address` now: the address itself, or the name's current
    /// address, preferring IPv4 when the name has both kinds.
    pub async fn resolve(&self, address: &PeerAddress) -> io::Result<SocketAddr> {
        let (host, port) = match address {
            PeerAddress::Socket(address) => return Ok(*address),
            PeerAddress::Name { host, port } => (host.clone(), *port),
        };
        let lookup = Arc::clone(&self.lookup);
        let found = tokio::task::spawn_blocking(move || lookup(&host, port))
            .await
            .map_err(io::Error::other)??;
        preferred(&found).ok_or_else(|| io::Error::other("the name has no addresses"))
    }
}

/// The first IPv4 address, else the first address: containers and clusters are commonly
/// IPv4-only even where names also have IPv6 records.
fn preferred(addresses: &[SocketAddr]) -> Option<SocketAddr> {
    addresses
        .iter()
        .find(|address| address.is_ipv4())
        .or(addresses.first())
        .copied()
}

impl Default for Resolver {
    fn default() -> Resolver {
        Resolver::system()
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn socket(text: &str) -> SocketAddr {
        text.parse().expect("a socket address")
    }

    #[tokio::test]
    async fn names_are_looked_up_at_every_resolution_and_ip_addresses_never() {
        let answer = Arc::new(Mutex::new(socket("10.0.0.1:7100")));
        let lookups = Arc::new(Mutex::new(0));
        let resolver = {
            let answer = Arc::clone(&answer);
            let lookups = Arc::clone(&lookups);
            Resolver::new(move |host, port| {
                assert_eq!((host, port), ("replica-1", 7101));
                *lookups.lock().expect("lock") += 1;
                let mut found = *answer.lock().expect("lock");
                found.set_port(port);
                Ok(vec![found])
            })
        };
        let name = PeerAddress::Name {
            host: "replica-1".to_string(),
            port: 7101,
        };
        assert_eq!(
            resolver.resolve(&name).await.expect("resolves"),
            socket("10.0.0.1:7101")
        );
        *answer.lock().expect("lock") = socket("10.0.0.9:0");
        assert_eq!(
            resolver.resolve(&name).await.expect("resolves"),
            socket("10.0.0.9:7101"),
            "the name's new address"
        );
        let literal = PeerAddress::from(socket("127.0.0.1:7100"));
        assert_eq!(
            resolver.resolve(&literal).await.expect("no lookup"),
            socket("127.0.0.1:7100")
        );
        assert_eq!(*lookups.lock().expect("lock"), 2);
    }

    #[tokio::test]
    async fn ipv4_is_preferred_and_an_empty_answer_is_an_error() {
        let both = Resolver::new(|_, port| {
            Ok(vec![
                SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port)),
                SocketAddr::from(([10, 0, 0, 2], port)),
            ])
        });
        let name = PeerAddress::Name {
            host: "replica-2".to_string(),
            port: 7102,
        };
        assert_eq!(
            both.resolve(&name).await.expect("resolves"),
            socket("10.0.0.2:7102")
        );
        let none = Resolver::new(|_, _| Ok(Vec::new()));
        assert!(none.resolve(&name).await.is_err());
        let failing = Resolver::new(|_, _| Err(io::Error::other("no such host")));
        assert!(failing.resolve(&name).await.is_err());
    }

    #[test]
    fn names_listen_on_every_interface_and_print_as_written() {
        let name = PeerAddress::Name {
            host: "rampart-0.rampart".to_string(),
            port: 7100,
        };
        assert_eq!(name.listen_address(), socket("0.0.0.0:7100"));
        assert_eq!(name.to_string(), "rampart-0.rampart:7100");
        assert_eq!(name.socket(), None);
        let literal = PeerAddress::from(socket("[::1]:7100"));
        assert_eq!(literal.listen_address(), socket("[::1]:7100"));
        assert_eq!(literal.to_string(), "[::1]:7100");
    }
}
