//! A UDP relay between real replicas: the network nemesis for clusters running over QUIC.
//!
//! Each replica reaches each peer (and each client reaches each replica) through its own
//! relay link. A link is a pair of sockets that forwards datagrams both ways, like a NAT:
//! what arrives at the front goes to the target from the back socket, and what the target
//! answers goes back to the last sender seen at the front. Per direction, a link can drop
//! everything (a partition, one-way if only one direction), drop a share of datagrams, or
//! delay them. The target can change while the link runs, so a restarted replica may come
//! back on another port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use rampart_replica::core::Rng;

/// Faults of one direction of a link.
#[derive(Debug, Default)]
pub struct DirectionFaults {
    pub blocked: AtomicBool,
    pub loss_per_mille: AtomicU64,
    pub delay_ms: AtomicU64,
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
}

impl DirectionFaults {
    pub fn clear(&self) {
        self.blocked.store(false, Ordering::Relaxed);
        self.loss_per_mille.store(0, Ordering::Relaxed);
        self.delay_ms.store(0, Ordering::Relaxed);
    }
}

/// One relay link: `front` is where the sender sends; the link forwards to `target`.
#[derive(Debug)]
pub struct Link {
    front_address: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    /// Faults of datagrams from the sender to the target.
    pub forward: Arc<DirectionFaults>,
    /// Faults of datagrams from the target back to the sender.
    pub backward: Arc<DirectionFaults>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Link {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

const DATAGRAM_BYTES_MAX: usize = 65_536;

impl Link {
    /// A link on a fresh 127.0.0.1 port, forwarding to `target` once it is set.
    pub async fn bind(target: Option<SocketAddr>, seed: u64) -> std::io::Result<Link> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let front_address = front.local_addr()?;
        let target = Arc::new(Mutex::new(target));
        let sender: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let forward = Arc::new(DirectionFaults::default());
        let backward = Arc::new(DirectionFaults::default());
        let forward_task = {
            let (front, back, target, sender, faults) = (
                front.clone(),
                back.clone(),
                target.clone(),
                sender.clone(),
                forward.clone(),
            );
            tokio::spawn(async move {
                let mut rng = Rng::new(seed);
                let mut buffer = vec![0u8; DATAGRAM_BYTES_MAX];
                while let Ok((length, from)) = front.recv_from(&mut buffer).await {
                    *lock(&sender) = Some(from);
                    let destination = *lock(&target);
                    if let Some(destination) = destination {
                        pass(&faults, &mut rng, &back, destination, &buffer[..length]);
                    }
                }
            })
        };
        let backward_task = {
            let (front, back, sender, faults) = (
                front.clone(),
                back.clone(),
                sender.clone(),
                backward.clone(),
            );
            tokio::spawn(async move {
                let mut rng = Rng::new(seed ^ 0xb4c4);
                let mut buffer = vec![0u8; DATAGRAM_BYTES_MAX];
                while let Ok((length, _)) = back.recv_from(&mut buffer).await {
                    let destination = *lock(&sender);
                    if let Some(destination) = destination {
                        pass(&faults, &mut rng, &front, destination, &buffer[..length]);
                    }
                }
            })
        };
        Ok(Link {
            front_address,
            target,
            forward,
            backward,
            tasks: vec![forward_task, backward_task],
        })
    }

    /// Where the sender must send.
    pub fn address(&self) -> SocketAddr {
        self.front_address
    }

    pub fn set_target(&self, target: Option<SocketAddr>) {
        *lock(&self.target) = target;
    }

    /// Cuts or restores both directions.
    pub fn set_blocked(&self, blocked: bool) {
        self.forward.blocked.store(blocked, Ordering::Relaxed);
        self.backward.blocked.store(blocked, Ordering::Relaxed);
    }

    pub fn clear(&self) {
        self.forward.clear();
        self.backward.clear();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Forwards one datagram through a direction's faults.
fn pass(
    faults: &DirectionFaults,
    rng: &mut Rng,
    socket: &Arc<UdpSocket>,
    to: SocketAddr,
    datagram: &[u8],
) {
    if faults.blocked.load(Ordering::Relaxed)
        || rng.chance(faults.loss_per_mille.load(Ordering::Relaxed), 1000)
    {
        faults.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    faults.forwarded.fetch_add(1, Ordering::Relaxed);
    let delay = faults.delay_ms.load(Ordering::Relaxed);
    if delay == 0 {
        let _ = socket.try_send_to(datagram, to);
        return;
    }
    let socket = socket.clone();
    let datagram = datagram.to_vec();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let _ = socket.send_to(&datagram, to).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn datagrams_flow_both_ways_and_faults_apply() {
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let link = Link::bind(Some(server.local_addr().expect("addr")), 1)
            .await
            .expect("link");
        let mut buffer = [0u8; 16];
        client.send_to(b"ping", link.address()).await.expect("send");
        let (length, via) = server.recv_from(&mut buffer).await.expect("recv");
        assert_eq!(&buffer[..length], b"ping");
        server.send_to(b"pong", via).await.expect("send");
        let (length, _) = client.recv_from(&mut buffer).await.expect("recv");
        assert_eq!(&buffer[..length], b"pong");

        link.set_blocked(true);
        client.send_to(b"lost", link.address()).await.expect("send");
        let nothing =
            tokio::time::timeout(Duration::from_millis(100), server.recv_from(&mut buffer)).await;
        assert!(nothing.is_err(), "a blocked link delivered");
        assert_eq!(link.forward.dropped.load(Ordering::Relaxed), 1);
    }
}
