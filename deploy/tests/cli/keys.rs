//! Keys that stay on their host: `rampart keygen` writes one private key and prints its
//! public key; `rampart init --public-keys` builds a cluster from public keys alone.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rampart_crypto::{KeyPair, load_key_pair};
use rampart_deploy::files::client::ClientFile;
use rampart_deploy::files::cluster::{Application, ClusterFile};
use rampart_deploy::files::replica::ReplicaFile;

use crate::processes::ProcessCluster;
use crate::support::{assert_one_line_error, describe, one_cluster_at_a_time, rampart, run};

/// Runs `rampart keygen --out path` and returns what it printed on stdout.
fn keygen(path: &Path) -> String {
    let output = run(rampart().args(["keygen", "--out"]).arg(path));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Generates a key for each replica and client in `dir` (as `replica-<i>.key` and
/// `client-<j>.key`, the names `init` uses by default) and writes the public keys file.
fn keys_in(dir: &Path, replicas: usize, clients: usize) -> PathBuf {
    let mut lines = String::from("# role index public-key\n");
    for (role, count) in [("replica", replicas), ("client", clients)] {
        for index in 0..count {
            let public_key = keygen(&dir.join(format!("{role}-{index}.key")));
            lines.push_str(&format!("{role} {index} {}", public_key));
        }
    }
    let path = dir.join("public-keys");
    fs::write(&path, lines).expect("write the public keys");
    path
}

/// A valid public key that is not in any file of the test.
fn public_key(seed: u64) -> String {
    KeyPair::from_seed(seed).public_key().to_string()
}

/// `rampart init --public-keys FILE --out DIR` with more flags.
fn init_from(public_keys: &Path, out: &Path, flags: &[&str]) -> std::process::Output {
    run(rampart()
        .args(["init", "--app", "kv", "--public-keys"])
        .arg(public_keys)
        .args(flags)
        .arg("--out")
        .arg(out))
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("exists").permissions().mode() & 0o777
}

#[test]
fn keygen_writes_an_owner_only_key_and_prints_its_public_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("replica.key");
    let printed = keygen(&path);
    assert_eq!(mode(&path), 0o600);
    let key = load_key_pair(&path).expect("the existing key-file format");
    assert_eq!(printed, format!("{}\n", key.public_key()));
    let other = dir.path().join("other.key");
    assert_ne!(keygen(&other), printed, "every key is new");
}

#[test]
fn keygen_never_replaces_an_existing_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("replica.key");
    keygen(&path);
    let before = fs::read(&path).expect("written");
    let output = run(rampart().args(["keygen", "--out"]).arg(&path));
    assert_one_line_error(&output, 2, &["replica.key", "already exists", "--out"]);
    assert!(output.stdout.is_empty(), "{}", describe(&output));
    assert_eq!(fs::read(&path).expect("kept"), before);
    assert_eq!(mode(&path), 0o600);

    let missing_directory = dir.path().join("nowhere/replica.key");
    let output = run(rampart().args(["keygen", "--out"]).arg(&missing_directory));
    assert_one_line_error(&output, 1, &["nowhere"]);
}

#[test]
fn install_key_copies_a_group_readable_key_into_an_owner_only_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let secret = dir.path().join("secret");
    let printed = keygen(&secret);
    // As Kubernetes mounts a Secret for a pod with an fsGroup.
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o440)).expect("chmod");
    assert!(load_key_pair(&secret).is_err(), "refused as it is");
    let installed = dir.path().join("replica.key");
    let install = || {
        run(rampart()
            .args(["install-key", "--from"])
            .arg(&secret)
            .arg("--out")
            .arg(&installed))
    };
    let output = install();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), printed);
    assert_eq!(mode(&installed), 0o600);
    assert_eq!(
        format!(
            "{}\n",
            load_key_pair(&installed).expect("loads").public_key()
        ),
        printed
    );
    // Again, as a restarted init container would: the same key is already there.
    let again = install();
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));

    let other = dir.path().join("other.key");
    keygen(&other);
    let output = run(rampart()
        .args(["install-key", "--from"])
        .arg(&other)
        .arg("--out")
        .arg(&installed));
    assert_one_line_error(&output, 2, &["replica.key", "another key"]);
    let output = run(rampart()
        .args(["install-key", "--from"])
        .arg(dir.path().join("absent"))
        .arg("--out")
        .arg(dir.path().join("new.key")));
    assert_one_line_error(&output, 2, &["absent", "--from"]);
}

#[test]
fn init_from_public_keys_writes_no_private_key() {
    let hosts = tempfile::tempdir().expect("temporary directory");
    let public_keys = keys_in(hosts.path(), 4, 2);
    let out = tempfile::tempdir().expect("temporary directory");
    let output = init_from(&public_keys, out.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("no private key"), "{stdout}");

    let spec = ClusterFile::load(&out.path().join("cluster.toml")).expect("checks");
    assert_eq!(spec.application, Application::Kv);
    for index in 0..4 {
        let key = load_key_pair(&hosts.path().join(format!("replica-{index}.key")))
            .expect("the host's key");
        assert_eq!(spec.cluster.replicas[index], key.public_key());
        let replica: ReplicaFile = toml::from_str(
            &fs::read_to_string(out.path().join(format!("replica-{index}.toml"))).expect("read"),
        )
        .expect("parses");
        assert_eq!(replica.key, Path::new(&format!("replica-{index}.key")));
    }
    for index in 0..2 {
        let key = load_key_pair(&hosts.path().join(format!("client-{index}.key")))
            .expect("the host's key");
        assert!(spec.clients.admits(&key.public_key()));
        ClientFile::load(&out.path().join(format!("client-{index}.toml"))).expect("loads");
    }
    assert_eq!(spec.clients.listed_count(), Some(2));
    let written: Vec<String> = fs::read_dir(out.path())
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(
        written.iter().all(|name| !name.ends_with(".key")),
        "no key file: {written:?}"
    );
}

#[test]
fn init_from_public_keys_points_replicas_at_the_key_path_given() {
    let hosts = tempfile::tempdir().expect("temporary directory");
    let public_keys = keys_in(hosts.path(), 4, 1);
    let out = tempfile::tempdir().expect("temporary directory");
    let flags = ["--key-path", "/run/secrets/replica-{i}.key"];
    let output = init_from(&public_keys, out.path(), &flags);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    for index in 0..4 {
        let text =
            fs::read_to_string(out.path().join(format!("replica-{index}.toml"))).expect("read");
        let replica: ReplicaFile = toml::from_str(&text).expect("parses");
        assert_eq!(
            replica.key,
            Path::new(&format!("/run/secrets/replica-{index}.key"))
        );
    }

    // Without --public-keys, init writes the keys itself, so it decides where they are.
    let output = run(rampart()
        .args(["init", "--app", "kv", "--replicas", "4", "--clients", "1"])
        .args(flags)
        .arg("--out")
        .arg(out.path().join("other")));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--public-keys"));
}

#[test]
fn init_from_public_keys_checks_the_counts_the_flags_give() {
    let hosts = tempfile::tempdir().expect("temporary directory");
    let public_keys = keys_in(hosts.path(), 4, 2);
    let out = tempfile::tempdir().expect("temporary directory");
    let agreeing = init_from(
        &public_keys,
        out.path(),
        &["--replicas", "4", "--clients", "2"],
    );
    assert_eq!(agreeing.status.code(), Some(0), "{}", describe(&agreeing));
    let other = out.path().join("other");
    let replicas = init_from(&public_keys, &other, &["--replicas", "7"]);
    assert_one_line_error(&replicas, 2, &["--replicas 7", "4 replicas"]);
    let clients = init_from(&public_keys, &other, &["--clients", "3"]);
    assert_one_line_error(&clients, 2, &["--clients 3", "2 clients"]);
    assert!(!other.join("cluster.toml").exists());
}

#[test]
fn init_with_force_keeps_the_keys_already_in_the_directory() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let public_keys = keys_in(dir.path(), 4, 1);
    let first = init_from(&public_keys, dir.path(), &[]);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    fs::create_dir_all(dir.path().join("data/replica-0")).expect("a data directory");
    let again = init_from(&public_keys, dir.path(), &["--force"]);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    for name in ["replica-0.key", "replica-3.key", "client-0.key"] {
        load_key_pair(&dir.path().join(name)).expect("the host's key is still there");
    }
    assert!(!dir.path().join("data/replica-0").exists());
}

#[test]
fn malformed_public_keys_are_refused_with_their_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let valid = [
        format!("replica 0 {}", public_key(1)),
        format!("replica 1 {}", public_key(2)),
        format!("replica 2 {}", public_key(3)),
        format!("replica 3 {}", public_key(4)),
        format!("client 0 {}", public_key(5)),
    ];
    // Each case replaces line 3 (replica 1's) of a file that starts with a comment.
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "replica 1".to_string(),
            vec!["line 3", "replica <i> <public key>"],
        ),
        (
            format!("server 1 {}", public_key(2)),
            vec!["line 3", "\"server\"", "replica", "client"],
        ),
        (
            format!("replica one {}", public_key(2)),
            vec!["line 3", "\"one\"", "index"],
        ),
        (
            "replica 1 abcd".to_string(),
            vec!["line 3", "public key", "32 bytes"],
        ),
        (
            format!("replica 1 {}zz", &public_key(2)[..62]),
            vec!["line 3", "public key"],
        ),
        (
            format!("replica 1 {} extra", public_key(2)),
            vec!["line 3", "replica <i> <public key>"],
        ),
        (
            format!("replica 0 {}", public_key(2)),
            vec!["line 3", "replica 0", "line 2"],
        ),
        (
            format!("client 7 {}", public_key(1)),
            vec!["line 3", "line 2", "own key"],
        ),
    ];
    for (line, needles) in cases {
        let mut lines = valid.to_vec();
        lines[1] = line.clone();
        let path = dir.path().join("public-keys");
        fs::write(&path, format!("# keys\n{}\n", lines.join("\n"))).expect("write");
        let out = dir.path().join("out");
        let output = init_from(&path, &out, &[]);
        let mut needles = needles;
        needles.push("public-keys");
        assert_one_line_error(&output, 2, &needles);
        assert!(!out.join("cluster.toml").exists(), "{line}");
    }
}

#[test]
fn incomplete_public_keys_are_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("public-keys");
    let out = dir.path().join("out");
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            (0..4)
                .filter(|index| *index != 2)
                .map(|index| format!("replica {index} {}", public_key(index)))
                .chain([format!("replica 4 {}", public_key(9))])
                .collect(),
            vec!["replica 2", "missing"],
        ),
        (
            (0..3)
                .map(|index| format!("replica {index} {}", public_key(index)))
                .collect(),
            vec!["3 replicas", "3f+1"],
        ),
        (Vec::new(), vec!["no replica"]),
    ];
    for (lines, needles) in cases {
        fs::write(&path, lines.join("\n")).expect("write");
        let output = init_from(&path, &out, &[]);
        let mut needles = needles;
        needles.push("public-keys");
        assert_one_line_error(&output, 2, &needles);
    }
    let output = init_from(&dir.path().join("absent"), &out, &[]);
    assert_one_line_error(&output, 2, &["absent"]);
    assert!(!out.join("cluster.toml").exists());
}

#[test]
fn a_cluster_from_keygen_and_public_keys_serves_clients() {
    let _exclusive = one_cluster_at_a_time();
    let dir = tempfile::tempdir().expect("temporary directory");
    let public_keys = keys_in(dir.path(), 4, 1);
    let hosts: Vec<String> = crate::support::free_ports(4)
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    let output = init_from(&public_keys, dir.path(), &["--hosts", &hosts.join(",")]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let mut cluster = ProcessCluster::adopt(dir, 4);
    cluster.start_all();
    assert_eq!(cluster.client_ok(0, &["kv", "put", "origin", "keygen"]), "");
    assert_eq!(cluster.client_ok(0, &["kv", "get", "origin"]), "keygen\n");
    cluster.stop_all();
}
