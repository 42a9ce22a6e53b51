//! `rampart replica` refuses to start on a wrong setup, with one line on stderr that
//! names the problem, and a non-zero exit status (2: fix a file; 1: fix the machine).

use std::fs;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::support::{assert_one_line_error, init_cluster, rampart, run};

fn replica(config: &Path) -> Output {
    run(rampart().arg("replica").arg("--config").arg(config))
}

/// Replaces the one line of `file` that starts with `prefix`.
fn edit_line(file: &Path, prefix: &str, replacement: &str) {
    let text = fs::read_to_string(file).expect("read");
    assert!(
        text.lines().any(|line| line.starts_with(prefix)),
        "{prefix:?} in {}",
        file.display()
    );
    let edited: Vec<&str> = text
        .lines()
        .map(|line| {
            if line.starts_with(prefix) {
                replacement
            } else {
                line
            }
        })
        .collect();
    fs::write(file, edited.join("\n") + "\n").expect("write");
}

#[test]
fn replica_refuses_a_missing_config() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = replica(&dir.path().join("replica-9.toml"));
    assert_one_line_error(&output, 2, &["replica-9.toml", "No such file"]);
}

#[test]
fn replica_refuses_a_malformed_config() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 1, "kv");
    let config = dir.path().join("replica-0.toml");
    edit_line(&config, "tick_ms", "tick_ms = = 10");
    let output = replica(&config);
    assert_one_line_error(&output, 2, &["replica-0.toml", "line "]);
}

#[test]
fn replica_refuses_an_unknown_field() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 1, "kv");
    let config = dir.path().join("replica-1.toml");
    edit_line(&config, "sync", "synced = true");
    let output = replica(&config);
    assert_one_line_error(&output, 2, &["replica-1.toml", "unknown field `synced`"]);
}

#[test]
fn replica_refuses_a_bad_listen_address() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 1, "kv");
    let config = dir.path().join("replica-1.toml");
    edit_line(&config, "listen", "listen = \"localhost\"");
    let output = replica(&config);
    assert_one_line_error(
        &output,
        2,
        &["replica-1.toml", "\"localhost\"", "127.0.0.1:7100"],
    );
}

#[test]
fn replica_refuses_a_cluster_that_is_not_3f_plus_1() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 7, 1, "kv");
    // Drop the last [[replicas]] entry: six replicas remain.
    let cluster = dir.path().join("cluster.toml");
    let text = fs::read_to_string(&cluster).expect("read");
    let last = text.rfind("[[replicas]]").expect("an entry");
    fs::write(&cluster, &text[..last]).expect("write");
    let output = replica(&dir.path().join("replica-0.toml"));
    assert_one_line_error(&output, 2, &["cluster.toml", "6 replicas", "3f+1"]);
}

#[test]
fn replica_refuses_a_cluster_file_whose_settings_were_edited_after_init() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 1, "kv");
    edit_line(
        &dir.path().join("cluster.toml"),
        "checkpoint_interval",
        "checkpoint_interval = 64",
    );
    let output = replica(&dir.path().join("replica-0.toml"));
    assert_one_line_error(
        &output,
        2,
        &[
            "cluster.toml",
            "cluster_id",
            "a setting was changed after `rampart init`",
            "re-run `rampart init`",
            "the same cluster.toml",
        ],
    );
}

#[test]
fn replica_refuses_an_id_outside_the_cluster() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 1, "kv");
    let config = dir.path().join("replica-3.toml");
    edit_line(&config, "replica =", "replica = 4");
    let output = replica(&config);
    assert_one_line_error(&output, 2, &["replica-3.toml", "replica = 4", "0 to 3"]);
}

#[test]
fn replica_refuses_the_key_of_another_replica() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 1, "kv");
    let config = dir.path().join("replica-2.toml");
    edit_line(&config, "key =", "key = \"replica-1.key\"");
    let output = replica(&config);
    assert_one_line_error(
        &output,
        2,
        &[
            "replica-2.toml",
            "replica-1.key",
            "replica 1's key",
            "use the key written for replica 2",
        ],
    );
}

#[test]
fn replica_refuses_a_key_its_group_or_others_can_read() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 1, "kv");
    let key = dir.path().join("replica-0.key");
    let chmod = format!("chmod 600 {}", key.display());
    for mode in [0o644, 0o640] {
        fs::set_permissions(&key, fs::Permissions::from_mode(mode)).expect("chmod");
        let output = replica(&dir.path().join("replica-0.toml"));
        let shown = format!("mode {mode:04o}");
        assert_one_line_error(&output, 2, &["replica-0.key", &shown, &chmod]);
    }
}

#[test]
fn replica_refuses_a_port_in_use() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 1, "kv");
    let config = dir.path().join("replica-0.toml");
    let text = fs::read_to_string(&config).expect("read");
    let file: rampart_deploy::files::replica::ReplicaFile = toml::from_str(&text).expect("parse");
    let _holder = UdpSocket::bind(file.listen).expect("hold the replica's port");
    let output = replica(&config);
    assert_one_line_error(
        &output,
        1,
        &[
            "replica-0.toml",
            &file.listen.to_string(),
            "in use",
            "`listen`",
        ],
    );
}

#[test]
fn replica_refuses_an_invalid_log_filter() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 1, "kv");
    let output = run(rampart()
        .env("RUST_LOG", "rampart=[")
        .arg("replica")
        .arg("--config")
        .arg(dir.path().join("replica-0.toml")));
    assert_one_line_error(&output, 2, &["RUST_LOG", "unset it"]);
}

#[test]
fn replica_refuses_a_malformed_client_key_naming_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 1, "kv");
    let client = rampart_crypto::load_key_pair(&dir.path().join("client-0.key")).expect("key");
    let cluster = dir.path().join("cluster.toml");
    let text = fs::read_to_string(&cluster).expect("read");
    let listed = client.public_key().to_string();
    assert!(text.contains(&listed), "rampart init lists its client");
    fs::write(&cluster, text.replace(&listed, "c1ient-key-typo")).expect("write");
    let output = replica(&dir.path().join("replica-0.toml"));
    assert_one_line_error(
        &output,
        2,
        &[
            "cluster.toml",
            "line",
            "\"c1ient-key-typo\"",
            "not an ed25519 public key",
        ],
    );
}
