//! A cluster of `rampart replica` processes from `rampart init` output: start, kill -9,
//! stop with SIGTERM, restart, and run `rampart client` against it.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::{
    KillOnDrop, describe, init_cluster_with, rampart, run_with_input, run_within,
};

/// How long a replica may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one `rampart client` command may run: its own request timeout (30 s) plus
/// connecting, on a loaded machine.
pub const CLIENT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Replica processes and the directory `rampart init` wrote for them.
#[derive(Debug)]
pub struct ProcessCluster {
    dir: TempDir,
    replicas: Vec<Option<KillOnDrop>>,
}

impl ProcessCluster {
    /// `rampart init --app APP --replicas N --clients M` on free ports, with more `flags`;
    /// nothing is started.
    pub fn init(app: &str, replicas: usize, clients: u32, flags: &[&str]) -> ProcessCluster {
        let dir = tempfile::tempdir().expect("temporary directory");
        init_cluster_with(dir.path(), replicas, clients, app, flags);
        ProcessCluster {
            dir,
            replicas: (0..replicas).map(|_| None).collect(),
        }
    }

    /// Replica processes for the cluster files already in `dir`; nothing is started.
    pub fn adopt(dir: TempDir, replicas: usize) -> ProcessCluster {
        ProcessCluster {
            dir,
            replicas: (0..replicas).map(|_| None).collect(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn size(&self) -> usize {
        self.replicas.len()
    }

    pub fn client_config(&self, client: usize) -> PathBuf {
        self.dir().join(format!("client-{client}.toml"))
    }

    pub fn data_dir(&self, replica: usize) -> PathBuf {
        self.dir().join(format!("data/replica-{replica}"))
    }

    fn log_path(&self, replica: usize) -> PathBuf {
        self.dir().join(format!("replica-{replica}.log"))
    }

    /// Everything replica `replica` logged, over all its runs.
    pub fn log(&self, replica: usize) -> String {
        fs::read_to_string(self.log_path(replica)).unwrap_or_default()
    }

    /// Starts replica `replica`; its stderr is appended to its log.
    pub fn start(&mut self, replica: usize) {
        self.spawn(replica, rampart());
    }

    /// Starts replica `replica` with `flags` before the subcommand (`--log-format json`).
    pub fn start_with_flags(&mut self, replica: usize, flags: &[&str]) {
        let mut command = rampart();
        command.args(flags);
        self.spawn(replica, command);
    }

    /// Starts replica `replica` with no file of its allowed past `kilobytes` (the shell's
    /// `ulimit -f`, with SIGXFSZ ignored so a write past the limit fails with EFBIG instead
    /// of killing the process): storage that runs out of room, without privileges.
    pub fn start_with_file_limit(&mut self, replica: usize, kilobytes: u64) {
        let binary = rampart().get_program().to_owned();
        let script = format!("trap '' XFSZ; ulimit -f {kilobytes}; exec \"$0\" \"$@\"");
        let mut command = Command::new("bash");
        command.arg("-c").arg(script).arg(binary);
        self.spawn(replica, command);
    }

    /// Runs `command replica --config <its file>`, stderr appended to the replica's log.
    fn spawn(&mut self, replica: usize, mut command: Command) {
        assert!(self.replicas[replica].is_none(), "replica {replica} runs");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(replica))
            .expect("log file");
        let child = command
            .arg("replica")
            .arg("--config")
            .arg(self.dir().join(format!("replica-{replica}.toml")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a replica");
        self.replicas[replica] = Some(KillOnDrop(Some(child)));
    }

    /// The process id of running replica `replica`.
    pub fn pid(&mut self, replica: usize) -> u32 {
        self.replicas[replica]
            .as_mut()
            .expect("replica runs")
            .get()
            .id()
    }

    /// Waits for replica `replica` to exit on its own; returns its exit code.
    pub fn wait_exit(&mut self, replica: usize, timeout: Duration) -> Option<i32> {
        let started = Instant::now();
        loop {
            let process = self.replicas[replica].as_mut().expect("replica runs");
            if let Some(status) = process.get().try_wait().expect("wait") {
                self.replicas[replica] = None;
                return status.code();
            }
            if started.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn start_all(&mut self) {
        for replica in 0..self.size() {
            self.start(replica);
        }
    }

    /// `kill -9`: the process stops at once, with no chance to finish anything.
    pub fn kill(&mut self, replica: usize) {
        let mut process = self.replicas[replica].take().expect("replica runs");
        let child = process.get();
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }

    /// SIGTERM, then waits for a clean exit (status 0).
    pub fn stop(&mut self, replica: usize) {
        self.terminate(replica);
        self.wait_stopped(replica);
    }

    /// Stops every running replica with SIGTERM; all receive it before any is waited
    /// for, so that none runs on alone and waits for the others.
    pub fn stop_all(&mut self) {
        let running: Vec<usize> = (0..self.size())
            .filter(|replica| self.replicas[*replica].is_some())
            .collect();
        for replica in &running {
            self.terminate(*replica);
        }
        for replica in running {
            self.wait_stopped(replica);
        }
    }

    fn terminate(&mut self, replica: usize) {
        let pid = self.replicas[replica]
            .as_mut()
            .expect("replica runs")
            .get()
            .id()
            .to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM replica {replica}");
    }

    fn wait_stopped(&mut self, replica: usize) {
        let stopping = Instant::now();
        let status = loop {
            let child = self.replicas[replica].as_mut().expect("runs").get();
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                stopping.elapsed() < STOP_TIMEOUT,
                "replica {replica} still running after SIGTERM: {}",
                self.log(replica)
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.replicas[replica] = None;
        assert_eq!(
            status.code(),
            Some(0),
            "replica {replica}: {}",
            self.log(replica)
        );
    }

    /// Panics if a replica that should run has exited.
    pub fn assert_running(&mut self) {
        for replica in 0..self.size() {
            let exited = match self.replicas[replica].as_mut() {
                Some(process) => process.get().try_wait().expect("wait"),
                None => continue,
            };
            assert!(
                exited.is_none(),
                "replica {replica} exited with {exited:?}: {}",
                self.log(replica)
            );
        }
    }

    /// Panics if a replica that should run, other than those in `except`, has exited.
    pub fn assert_running_except(&mut self, except: &[usize]) {
        for replica in 0..self.size() {
            if except.contains(&replica) {
                continue;
            }
            let exited = match self.replicas[replica].as_mut() {
                Some(process) => process.get().try_wait().expect("wait"),
                None => continue,
            };
            assert!(exited.is_none(), "replica {replica} exited with {exited:?}");
        }
    }

    /// Runs `rampart client --config client-<client>.toml ARGS…`.
    pub fn client(&self, client: usize, args: &[&str]) -> Output {
        run_within(
            rampart()
                .arg("client")
                .arg("--config")
                .arg(self.client_config(client))
                .args(args),
            CLIENT_COMMAND_TIMEOUT,
        )
    }

    /// Runs `rampart client --config client-<client>.toml ARGS…` with `input` on its
    /// standard input.
    pub fn client_with_input(&self, client: usize, args: &[&str], input: &[u8]) -> Output {
        run_with_input(
            rampart()
                .arg("client")
                .arg("--config")
                .arg(self.client_config(client))
                .args(args),
            Some(input),
            CLIENT_COMMAND_TIMEOUT,
        )
    }

    /// Writes `client-<index>.toml` and its key: a copy of client 0's settings with a new
    /// key that `rampart init` did not make, so that the cluster file neither admits it
    /// nor, for the interlock, registers it as an agent.
    pub fn add_stranger(&self, index: usize) {
        let dir = self.dir();
        let key = rampart_crypto::KeyPair::generate().expect("a key");
        rampart_crypto::save_key_pair(&dir.join(format!("client-{index}.key")), &key)
            .expect("writes the key");
        let text = fs::read_to_string(dir.join("client-0.toml")).expect("reads client 0");
        let text = text.replace("client-0.key", &format!("client-{index}.key"));
        fs::write(dir.join(format!("client-{index}.toml")), text).expect("writes the client");
    }

    /// Runs a client command that must succeed, and returns its stdout.
    pub fn client_ok(&self, client: usize, args: &[&str]) -> String {
        let output = self.client(client, args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "client {client} {args:?}: {}\nlogs: {:?}",
            describe(&output),
            (0..self.size()).map(|r| self.log(r)).collect::<Vec<_>>()
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }
}
