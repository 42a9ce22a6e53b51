//! Running the `rampart` binary from tests: temporary clusters, free ports, bounded waits.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Longest a command that should fail at once may run before the test gives up on it.
pub const QUICK_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Held by every test that runs a cluster of replica processes: on a small machine, two
/// clusters at once starve each other's timers and make the tests slow and flaky.
static CLUSTER_TESTS: Mutex<()> = Mutex::new(());

/// Waits for the other cluster tests to finish. A failed test does not block the rest.
pub fn one_cluster_at_a_time() -> MutexGuard<'static, ()> {
    CLUSTER_TESTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The binary, with a predictable environment: default logging.
pub fn rampart() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rampart"));
    command.env_remove("RUST_LOG");
    command
}

/// `count` UDP ports on 127.0.0.1 that were free a moment ago.
pub fn free_ports(count: usize) -> Vec<u16> {
    let sockets: Vec<UdpSocket> = (0..count)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    sockets
        .iter()
        .map(|socket| socket.local_addr().expect("local address").port())
        .collect()
}

/// `count` TCP ports on 127.0.0.1 that were free a moment ago.
pub fn free_tcp_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().expect("local address").port())
        .collect()
}

/// Runs `rampart init` for a cluster on 127.0.0.1 at free ports (UDP for the replicas,
/// TCP for their HTTP endpoints), and checks it succeeded.
pub fn init_cluster(out: &Path, replicas: usize, clients: u32, app: &str) {
    init_cluster_with(out, replicas, clients, app, &[]);
}

/// [`init_cluster`] with more flags for `rampart init`.
pub fn init_cluster_with(out: &Path, replicas: usize, clients: u32, app: &str, flags: &[&str]) {
    let hosts: Vec<String> = free_ports(replicas)
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    let metrics_hosts: Vec<String> = free_tcp_ports(replicas)
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    let output = run(rampart()
        .args(["init", "--app", app, "--replicas"])
        .arg(replicas.to_string())
        .arg("--clients")
        .arg(clients.to_string())
        .arg("--hosts")
        .arg(hosts.join(","))
        .arg("--metrics-hosts")
        .arg(metrics_hosts.join(","))
        .args(flags)
        .arg("--out")
        .arg(out));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

/// Runs a command to completion, killing it if it outlives [`QUICK_COMMAND_TIMEOUT`].
pub fn run(command: &mut Command) -> Output {
    run_within(command, QUICK_COMMAND_TIMEOUT)
}

/// Runs a command to completion, killing it if it outlives `timeout`.
pub fn run_within(command: &mut Command, timeout: Duration) -> Output {
    run_with_input(command, None, timeout)
}

/// Runs a command with `input` on its standard input (none: an empty one), killing it if
/// it outlives `timeout`. Its output is read while it runs, so that output larger than a
/// pipe holds does not stall it.
pub fn run_with_input(command: &mut Command, input: Option<&[u8]>, timeout: Duration) -> Output {
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rampart binary starts");
    let mut child = KillOnDrop(Some(child));
    let writer = child.get().stdin.take().map(|mut stdin| {
        let input = input.unwrap_or_default().to_vec();
        // The command may exit without reading it all; that is its business.
        std::thread::spawn(move || drop(stdin.write_all(&input)))
    });
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut bytes).expect("read the output");
            }
            bytes
        })
    };
    let stdout = drain(child.get().stdout.take().map(|pipe| Box::new(pipe) as _));
    let stderr = drain(child.get().stderr.take().map(|pipe| Box::new(pipe) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.get().try_wait().expect("wait for rampart") {
            child.0 = None;
            break status;
        }
        assert!(
            started.elapsed() < timeout,
            "rampart still running after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(writer) = writer {
        writer.join().expect("the input writer ends");
    }
    Output {
        status,
        stdout: stdout.join().expect("stdout read"),
        stderr: stderr.join().expect("stderr read"),
    }
}

/// Asserts that the command failed with `code` and printed exactly one line on stderr,
/// containing every one of `needles`.
pub fn assert_one_line_error(output: &Output, code: i32, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{}", describe(output));
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
}

pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A child process that is killed if the test ends before it does.
#[derive(Debug)]
pub struct KillOnDrop(pub Option<Child>);

impl KillOnDrop {
    pub fn get(&mut self) -> &mut Child {
        self.0.as_mut().expect("child present")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
