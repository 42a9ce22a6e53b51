//! The cluster's files, made as an operator would with keys that stay on their host: each
//! replica's key from `rampart keygen`, the configuration from `rampart init
//! --public-keys`, and, for the clients on this host, a copy of the cluster file whose
//! addresses are the ports compose publishes.

use std::fs;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;

use rampart_deploy::files::cluster::ClusterFile;

/// Replicas in the cluster (f = 1).
pub const REPLICAS: usize = 4;

/// Clients with keys on the host: the workload's, then the auditor's.
pub const CLIENTS: usize = 4;

/// A short checkpoint interval: checkpoints, and state transfer to a wiped replica, come
/// after few operations.
const CHECKPOINT_INTERVAL: &str = "16";

/// Where everything of one run lives.
#[derive(Debug)]
pub struct Layout {
    pub work: PathBuf,
}

impl Layout {
    /// `rampart init` output, mounted (a file or directory per container) into the
    /// containers: the shipped compose.yaml's RAMPART_CLUSTER.
    pub fn cluster(&self) -> PathBuf {
        self.work.join("cluster")
    }

    /// The client files of this host, with the published addresses.
    pub fn host(&self) -> PathBuf {
        self.work.join("host")
    }

    pub fn data(&self, replica: usize) -> PathBuf {
        self.cluster().join(format!("data/replica-{replica}"))
    }

    pub fn client_config(&self, client: usize) -> PathBuf {
        self.host().join(format!("client-{client}.toml"))
    }
}

/// Host ports the replicas' UDP and metrics TCP ports are published at.
#[derive(Clone, Debug)]
pub struct Ports {
    pub replica: Vec<u16>,
    pub metrics: Vec<u16>,
}

impl Ports {
    /// Ports that were free a moment ago on 127.0.0.1.
    pub fn free() -> Result<Ports, String> {
        let failed = |error: std::io::Error| format!("cannot find a free port: {error}");
        let udp: Vec<UdpSocket> = (0..REPLICAS)
            .map(|_| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<Result<_, _>>()
            .map_err(failed)?;
        let tcp: Vec<TcpListener> = (0..REPLICAS)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<Result<_, _>>()
            .map_err(failed)?;
        let port = |address: std::io::Result<std::net::SocketAddr>| address.map(|a| a.port());
        Ok(Ports {
            replica: udp
                .iter()
                .map(|socket| port(socket.local_addr()))
                .collect::<Result<_, _>>()
                .map_err(failed)?,
            metrics: tcp
                .iter()
                .map(|listener| port(listener.local_addr()))
                .collect::<Result<_, _>>()
                .map_err(failed)?,
        })
    }
}

fn run_rampart(rampart: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new(rampart)
        .args(args)
        .output()
        .map_err(|error| format!("cannot run {}: {error}", rampart.display()))?;
    if !output.status.success() {
        return Err(format!(
            "rampart {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Writes the keys and files of a new cluster into `layout`, replacing an earlier run's.
pub fn write_cluster(layout: &Layout, rampart: &Path, ports: &Ports) -> Result<(), String> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |error: std::io::Error| format!("{path}: {error}")
    };
    if layout.work.exists() {
        fs::remove_dir_all(&layout.work).map_err(io(&layout.work))?;
    }
    for directory in [layout.cluster(), layout.host()] {
        fs::create_dir_all(&directory).map_err(io(&directory))?;
    }
    let text = |path: &Path| path.to_string_lossy().into_owned();

    // Each key is made where it is used: a replica's in the file only its container
    // mounts, a client's on this host. Only the public keys are gathered.
    let mut public_keys = String::from("# role index public-key, from rampart keygen\n");
    for replica in 0..REPLICAS {
        let key = layout.cluster().join(format!("replica-{replica}.key"));
        let public_key = run_rampart(rampart, &["keygen", "--out", &text(&key)])?;
        public_keys.push_str(&format!("replica {replica} {public_key}\n"));
    }
    for client in 0..CLIENTS {
        let key = layout.host().join(format!("client-{client}.key"));
        let public_key = run_rampart(rampart, &["keygen", "--out", &text(&key)])?;
        public_keys.push_str(&format!("client {client} {public_key}\n"));
    }
    let public_keys_path = layout.work.join("public-keys");
    fs::write(&public_keys_path, public_keys).map_err(io(&public_keys_path))?;

    let hosts: Vec<String> = (0..REPLICAS)
        .map(|replica| format!("replica-{replica}"))
        .collect();
    run_rampart(
        rampart,
        &[
            "init",
            "--app",
            "kv",
            "--public-keys",
            &text(&public_keys_path),
            "--hosts",
            &hosts.join(","),
            "--checkpoint-interval",
            CHECKPOINT_INTERVAL,
            "--out",
            &text(&layout.cluster()),
        ],
    )?;
    for replica in 0..REPLICAS {
        let data = layout.data(replica);
        fs::create_dir_all(&data).map_err(io(&data))?;
    }

    // The clients here reach replica i, and `rampart status` its HTTP endpoints, at the
    // ports published for it.
    let cluster_path = layout.cluster().join("cluster.toml");
    let mut cluster: ClusterFile = rampart_deploy::files::load(&cluster_path, "the cluster file")
        .map_err(|failure| failure.to_string())?;
    for (replica, entry) in cluster.replicas.iter_mut().enumerate() {
        entry.address = format!("127.0.0.1:{}", ports.replica[replica]);
        entry.metrics = Some(format!("127.0.0.1:{}", ports.metrics[replica]));
    }
    let host_cluster = layout.host().join("cluster.toml");
    let text = cluster.render().map_err(|error| error.to_string())?;
    fs::write(&host_cluster, text).map_err(io(&host_cluster))?;
    for client in 0..CLIENTS {
        let from = layout.cluster().join(format!("client-{client}.toml"));
        fs::copy(&from, layout.client_config(client)).map_err(io(&from))?;
    }
    Ok(())
}

/// A /24 in 10.213.0.0/16 that overlaps no Docker network, for the compose network: with
/// a subnet of its own, a container can be given a new address when it reconnects.
pub fn free_subnet(in_use: &[String], start: u8) -> Option<[u8; 3]> {
    let taken: Vec<(u32, u32)> = in_use.iter().filter_map(|cidr| parse_cidr(cidr)).collect();
    (0..=255u8)
        .map(|step| start.wrapping_add(step))
        .find_map(|third| {
            let base = u32::from(Ipv4Addr::new(10, 213, third, 0));
            let overlaps = taken.iter().any(|(network, mask)| {
                (base & mask) == *network || (*network & 0xFFFF_FF00) == base
            });
            (!overlaps).then_some([10, 213, third])
        })
}

/// An IPv4 CIDR as (network, mask).
fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (address, bits) = cidr.split_once('/')?;
    let address: Ipv4Addr = address.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let mask = u32::MAX.checked_shl(32 - bits.min(32)).unwrap_or(0);
    Some((u32::from(address) & mask, mask))
}

/// The compose file that gives the cluster's network its own subnet.
pub fn network_override(layout: &Layout, subnet: [u8; 3]) -> Result<PathBuf, String> {
    let [a, b, c] = subnet;
    let path = layout.work.join("compose.network.yaml");
    let text = format!(
        "# The cluster-test's network: a subnet of its own, so that a reconnected replica\n\
         # can be given a new address.\n\
         networks:\n  default:\n    ipam:\n      config:\n        - subnet: {a}.{b}.{c}.0/24\n"
    );
    fs::write(&path, text).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subnet_overlaps_no_network_in_use() {
        let in_use = vec![
            "172.17.0.0/16".to_string(),
            "10.213.5.0/24".to_string(),
            "10.213.6.0/23".to_string(),
            "fd00::/64".to_string(),
        ];
        assert_eq!(free_subnet(&in_use, 5), Some([10, 213, 8]));
        assert_eq!(free_subnet(&in_use, 200), Some([10, 213, 200]));
        assert_eq!(free_subnet(&["10.0.0.0/8".to_string()], 0), None);
    }
}
