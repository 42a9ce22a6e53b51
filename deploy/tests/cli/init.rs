//! `rampart init`: the files it writes, and what it refuses.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use rampart_crypto::load_key_pair;
use rampart_deploy::files::client::ClientFile;
use rampart_deploy::files::cluster::{Application, ClusterFile};
use rampart_deploy::files::replica::ReplicaFile;
use rampart_replica::cluster::ClientAdmission;

use crate::support::{assert_one_line_error, describe, rampart, run};

#[test]
fn init_writes_valid_files_and_private_keys() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path().join("cluster");
    let output = run(rampart()
        .args([
            "init",
            "--replicas",
            "4",
            "--clients",
            "2",
            "--app",
            "kv",
            "--out",
        ])
        .arg(&out));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    for name in [
        "cluster.toml",
        "replica-0.toml",
        "replica-3.toml",
        "client-1.toml",
    ] {
        let text = fs::read_to_string(out.join(name)).expect(name);
        text.parse::<toml::Table>()
            .unwrap_or_else(|error| panic!("{name} is not valid TOML: {error}"));
        assert!(
            text.starts_with("# "),
            "{name} starts with its documentation"
        );
    }
    let spec = ClusterFile::load(&out.join("cluster.toml")).expect("cluster.toml checks");
    assert_eq!(spec.cluster.size(), 4);
    assert_eq!(spec.application, Application::Kv);
    let ports: Vec<u16> = spec.addresses.iter().map(|address| address.port).collect();
    assert_eq!(ports, [7100, 7101, 7102, 7103]);
    let metrics: Vec<String> = spec
        .metrics
        .iter()
        .map(|address| address.as_ref().expect("a metrics address").to_string())
        .collect();
    assert_eq!(
        metrics,
        [
            "127.0.0.1:9100",
            "127.0.0.1:9101",
            "127.0.0.1:9102",
            "127.0.0.1:9103"
        ]
    );

    for index in 0..4u32 {
        let key_path = out.join(format!("replica-{index}.key"));
        let mode = fs::metadata(&key_path)
            .expect("key file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{}", key_path.display());
        let key = load_key_pair(&key_path).expect("key loads");
        assert_eq!(
            spec.cluster.replicas[index as usize],
            key.public_key(),
            "replica {index}'s key file matches the cluster"
        );
        let text = fs::read_to_string(out.join(format!("replica-{index}.toml"))).expect("read");
        let replica: ReplicaFile = toml::from_str(&text).expect("replica file parses");
        assert_eq!(replica.replica, index);
        assert_eq!(replica.listen.port(), 7100 + index as u16);
        let metrics = replica.metrics.expect("a [metrics] table");
        assert_eq!(
            metrics.listen.to_string(),
            format!("127.0.0.1:{}", 9100 + index)
        );
        assert!(replica.sync);
        assert_eq!(
            replica.data_dir,
            std::path::Path::new(&format!("data/replica-{index}"))
        );
    }
    for index in 0..2 {
        let key_path = out.join(format!("client-{index}.key"));
        let mode = fs::metadata(&key_path)
            .expect("key file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let client = ClientFile::load(&out.join(format!("client-{index}.toml"))).expect("loads");
        assert_eq!(
            client.key,
            std::path::Path::new(&format!("client-{index}.key"))
        );
        let key = load_key_pair(&key_path).expect("key loads");
        assert!(
            spec.clients.admits(&key.public_key()),
            "client {index} is listed in [clients]"
        );
    }
    assert_eq!(spec.clients.listed_count(), Some(2));
}

#[test]
fn init_with_open_admission_admits_any_client() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = run(rampart()
        .args(["init", "--replicas", "4", "--clients", "1", "--app", "kv"])
        .arg("--open-admission")
        .arg("--out")
        .arg(dir.path()));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let spec = ClusterFile::load(&dir.path().join("cluster.toml")).expect("checks");
    assert_eq!(spec.clients, ClientAdmission::Open);
    let text = fs::read_to_string(dir.path().join("cluster.toml")).expect("written");
    assert!(text.contains("admission = \"open\""), "{text}");
}

#[test]
fn init_refuses_an_existing_cluster_without_force() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let init = |force: bool| {
        let mut command = rampart();
        command
            .args([
                "init",
                "--replicas",
                "4",
                "--clients",
                "1",
                "--app",
                "kv",
                "--out",
            ])
            .arg(dir.path());
        if force {
            command.arg("--force");
        }
        run(&mut command)
    };
    assert_eq!(init(false).status.code(), Some(0));
    let first = fs::read_to_string(dir.path().join("cluster.toml")).expect("written");
    fs::create_dir_all(dir.path().join("data/replica-0")).expect("a data directory");

    let refused = init(false);
    assert_one_line_error(&refused, 2, &["already holds a cluster", "--force"]);
    assert_eq!(
        fs::read_to_string(dir.path().join("cluster.toml")).expect("kept"),
        first,
        "a refused init leaves the cluster alone"
    );

    let forced = init(true);
    assert_eq!(forced.status.code(), Some(0), "{}", describe(&forced));
    assert_ne!(
        fs::read_to_string(dir.path().join("cluster.toml")).expect("rewritten"),
        first,
        "--force writes a new cluster"
    );
    assert!(
        !dir.path().join("data/replica-0").exists(),
        "--force deletes the old cluster's data"
    );
}

/// Named hosts listen on every interface, and are reached by name; `--metrics-hosts`
/// moves the HTTP endpoints elsewhere.
#[test]
fn init_places_each_replicas_metrics_beside_it_unless_told_otherwise() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let init = |flags: &[&str]| {
        run(rampart()
            .args(["init", "--replicas", "4", "--clients", "1", "--app", "kv"])
            .args([
                "--force",
                "--hosts",
                "replica-0,replica-1,replica-2,replica-3",
            ])
            .args(flags)
            .arg("--out")
            .arg(dir.path()))
    };
    let output = init(&["--metrics-base-port", "9200"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let spec = ClusterFile::load(&dir.path().join("cluster.toml")).expect("checks");
    let metrics = spec.metrics[2].as_ref().expect("an address").to_string();
    assert_eq!(metrics, "replica-2:9202");
    let text = fs::read_to_string(dir.path().join("replica-2.toml")).expect("written");
    let replica: ReplicaFile = toml::from_str(&text).expect("parses");
    let listen = replica.metrics.expect("a [metrics] table").listen;
    assert_eq!(listen.to_string(), "0.0.0.0:9202");

    let hosts = "127.0.0.1:9300,127.0.0.1:9301,127.0.0.2,127.0.0.1:9303";
    let output = init(&["--metrics-hosts", hosts]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let spec = ClusterFile::load(&dir.path().join("cluster.toml")).expect("checks");
    let metrics: Vec<String> = spec
        .metrics
        .iter()
        .map(|address| address.as_ref().expect("an address").to_string())
        .collect();
    assert_eq!(
        metrics,
        [
            "127.0.0.1:9300",
            "127.0.0.1:9301",
            "127.0.0.2:9102",
            "127.0.0.1:9303"
        ]
    );

    let output = init(&["--metrics-hosts", "127.0.0.1:9300,127.0.0.1:9301"]);
    assert_one_line_error(
        &output,
        2,
        &["--metrics-hosts lists 2 hosts for 4 replicas"],
    );
    let output = init(&["--metrics-hosts", "a:1,b:2,a:1,c:3"]);
    assert_one_line_error(&output, 2, &["replicas 0 and 2", "a:1"]);
    let output = init(&["--metrics-base-port", "65534"]);
    assert_one_line_error(&output, 2, &["--metrics-base-port 65534"]);
}

#[test]
fn init_refuses_a_replica_count_that_is_not_3f_plus_1() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for replicas in ["5", "3", "1"] {
        let output = run(rampart()
            .args([
                "init",
                "--replicas",
                replicas,
                "--clients",
                "1",
                "--app",
                "kv",
                "--out",
            ])
            .arg(dir.path()));
        assert_one_line_error(&output, 2, &[&format!("--replicas {replicas}"), "3f+1"]);
    }
    assert!(!dir.path().join("cluster.toml").exists());
}

#[test]
fn init_computes_interlock_defaults_from_the_clients() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = run(rampart()
        .args([
            "init",
            "--replicas",
            "4",
            "--clients",
            "7",
            "--app",
            "interlock",
            "--out",
        ])
        .arg(dir.path()));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = fs::read_to_string(dir.path().join("cluster.toml")).expect("written");
    let file: ClusterFile = toml::from_str(&text).expect("parses");
    let genesis = file.interlock.expect("an [interlock] table");
    assert_eq!(genesis.shutdown_quorum, 5);
    assert_eq!(genesis.faulty_agents_tolerated, 2);
    assert_eq!(genesis.min_confidence_percent, 50);
    assert_eq!(genesis.units, ["reactor-1"]);
    let agents: Vec<_> = genesis
        .registered_agents
        .iter()
        .map(|agent| agent.0)
        .collect();
    let clients: Vec<_> = (0..7)
        .map(|index| {
            load_key_pair(&dir.path().join(format!("client-{index}.key")))
                .expect("client key")
                .public_key()
        })
        .collect();
    assert_eq!(agents, clients, "the clients are the registered agents");
}

#[test]
fn init_takes_interlock_settings_from_flags() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = run(rampart()
        .args([
            "init",
            "--replicas",
            "7",
            "--clients",
            "4",
            "--app",
            "interlock",
        ])
        .args([
            "--units",
            "pump-a,pump-b",
            "--quorum",
            "4",
            "--faulty-agents",
            "0",
        ])
        .args(["--min-confidence", "70", "--base-port", "9000", "--out"])
        .arg(dir.path()));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let spec = ClusterFile::load(&dir.path().join("cluster.toml")).expect("checks");
    assert_eq!(spec.addresses[6].to_string(), "127.0.0.1:9006");
    let Application::Interlock(policy) = spec.application else {
        panic!("an interlock cluster");
    };
    assert_eq!(policy.shutdown_quorum, 4);
    assert_eq!(policy.faulty_agents_tolerated, 0);
    assert_eq!(policy.min_confidence_percent, 70);
    assert_eq!(policy.units.len(), 2);
}

#[test]
fn init_refuses_an_interlock_without_agents_or_with_an_unsafe_quorum() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let no_agents = run(rampart()
        .args([
            "init",
            "--replicas",
            "4",
            "--clients",
            "0",
            "--app",
            "interlock",
            "--out",
        ])
        .arg(dir.path()));
    assert_one_line_error(&no_agents, 2, &["--clients 1 or more"]);
    let minority = run(rampart()
        .args([
            "init",
            "--replicas",
            "4",
            "--clients",
            "4",
            "--app",
            "interlock",
        ])
        .args(["--quorum", "2", "--out"])
        .arg(dir.path()));
    assert_one_line_error(&minority, 2, &["--quorum 2", "majority"]);
    assert!(!dir.path().join("cluster.toml").exists());
}

#[test]
fn init_writes_the_checkpoint_interval_and_log_window_into_the_cluster_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let init = |flags: &[&str]| init_kv_into(dir.path(), flags);
    let output = init(&["--checkpoint-interval", "8"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let spec = ClusterFile::load(&dir.path().join("cluster.toml")).expect("checks");
    assert_eq!(spec.protocol.checkpoint_interval, 8);
    assert_eq!(spec.protocol.log_window, 16);

    let output = init(&["--checkpoint-interval", "8", "--log-window", "40"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let spec = ClusterFile::load(&dir.path().join("cluster.toml")).expect("checks");
    assert_eq!(spec.protocol.log_window, 40);

    let ragged = init(&["--checkpoint-interval", "8", "--log-window", "20"]);
    assert_one_line_error(&ragged, 2, &["log_window (20)", "multiple", "rampart init"]);
}

/// The cluster id is the digest of the settings and a loaded cluster.toml must match it,
/// so every shared protocol setting is set through `init`, never by editing the file.
#[test]
fn init_writes_every_shared_protocol_setting_from_its_flag() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let init = |flags: &[&str]| init_kv_into(dir.path(), flags);
    let default_id = {
        let output = init(&[]);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        ClusterFile::load(&dir.path().join("cluster.toml"))
            .expect("checks")
            .cluster
            .id
    };
    let output = init(&[
        "--batch-size-max",
        "32",
        "--client-window",
        "16",
        "--operation-bytes-max",
        "4096",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let spec = ClusterFile::load(&dir.path().join("cluster.toml")).expect("checks");
    assert_eq!(spec.protocol.batch_size_max, 32);
    assert_eq!(spec.protocol.client_window, 16);
    assert_eq!(spec.protocol.operation_bytes_max, 4096);
    assert_ne!(
        spec.cluster.id, default_id,
        "other settings, another cluster"
    );

    let empty_batches = init(&["--batch-size-max", "0"]);
    assert_one_line_error(&empty_batches, 2, &["batch_size_max", "rampart init"]);
}

/// `rampart init` of a four-replica key-value cluster with one client into `dir`
/// (overwriting), with `flags`.
fn init_kv_into(dir: &std::path::Path, flags: &[&str]) -> std::process::Output {
    run(rampart()
        .args(["init", "--replicas", "4", "--clients", "1", "--app", "kv"])
        .args(flags)
        .args(["--force", "--out"])
        .arg(dir))
}
