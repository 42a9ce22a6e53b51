//! Replica addresses as written in `cluster.toml`: `host:port`, where the host is an IP
//! address or a name (a container or Kubernetes service name). A replica looks its peers'
//! names up before every dial ([`HostPort::peer_address`]); a client resolves them when
//! it connects ([`HostPort::resolve`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use rampart_replica::net::PeerAddress;

/// A `host:port` pair. IPv6 hosts are written in brackets: `[::1]:7100`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    pub fn new(host: impl Into<String>, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    /// The host as an IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The address to listen on for this host: the address itself when the host is an IP
    /// address, otherwise every interface on the same port (a name can stand for an
    /// address the process cannot bind, such as a load balancer's).
    pub fn listen_address(&self) -> SocketAddr {
        match self.ip() {
            Some(ip) => SocketAddr::new(ip, self.port),
            None => SocketAddr::from(([0, 0, 0, 0], self.port)),
        }
    }

    /// The address as a replica's transport takes it: an IP address as it is, a name to
    /// be looked up before every dial.
    pub fn peer_address(&self) -> PeerAddress {
        match self.ip() {
            Some(ip) => PeerAddress::Socket(SocketAddr::new(ip, self.port)),
            None => PeerAddress::Name {
                host: self.host.clone(),
                port: self.port,
            },
        }
    }

    /// Resolves the host, preferring an IPv4 address when a name has both kinds.
    pub fn resolve(&self) -> std::io::Result<SocketAddr> {
        if let Some(ip) = self.ip() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let addresses: Vec<SocketAddr> =
            (self.host.as_str(), self.port).to_socket_addrs()?.collect();
        addresses
            .iter()
            .find(|address| address.is_ipv4())
            .or(addresses.first())
            .copied()
            .ok_or_else(|| std::io::Error::other("the name has no addresses"))
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip() {
            Some(IpAddr::V6(_)) => write!(f, "[{}]:{}", self.host, self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(text: &str) -> Result<HostPort, String> {
        let invalid = || format!("{text:?} is not host:port (for example 127.0.0.1:7100)");
        if let Ok(address) = text.parse::<SocketAddr>() {
            return Ok(HostPort::new(address.ip().to_string(), address.port()));
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
        let port: u16 = port.parse().map_err(|_| invalid())?;
        let name_characters = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if host.is_empty() || !host.chars().all(name_characters) {
            return Err(invalid());
        }
        Ok(HostPort::new(host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_print_back() {
        for text in [
            "127.0.0.1:7100",
            "[::1]:7100",
            "replica-0:7100",
            "a.b.svc:1",
        ] {
            let address: HostPort = text.parse().expect(text);
            assert_eq!(address.to_string(), text);
        }
        for text in [
            "7100",
            "host",
            "host:port",
            ":7100",
            "a b:1",
            "h:70000",
            "::1",
        ] {
            assert!(text.parse::<HostPort>().is_err(), "{text}");
        }
    }

    #[test]
    fn names_listen_on_every_interface() {
        let named: HostPort = "replica-0:7100".parse().expect("valid");
        assert_eq!(named.listen_address(), "0.0.0.0:7100".parse().expect("ip"));
        let literal: HostPort = "127.0.0.2:7101".parse().expect("valid");
        assert_eq!(
            literal.listen_address(),
            "127.0.0.2:7101".parse().expect("ip")
        );
        assert_eq!(
            literal.resolve().expect("an IP needs no lookup"),
            literal.listen_address()
        );
    }

    #[test]
    fn names_stay_names_for_the_transport_and_addresses_stay_addresses() {
        let named: HostPort = "rampart-1.rampart:7100".parse().expect("valid");
        assert_eq!(
            named.peer_address(),
            PeerAddress::Name {
                host: "rampart-1.rampart".to_string(),
                port: 7100
            }
        );
        for text in ["127.0.0.2:7101", "[::1]:7100"] {
            let literal: HostPort = text.parse().expect("valid");
            assert_eq!(
                literal.peer_address(),
                PeerAddress::Socket(text.parse().expect("an IP address"))
            );
        }
    }
}
