//! The configuration files `rampart` reads (`deploy/src/files/`): `cluster.toml`,
//! `replica-<i>.toml` and `client-<j>.toml`, parsed and checked as the commands check them.
//! A file that parses must also survive rendering: `rampart init` writes files with
//! `render`, and the commands must read them back as they were.

use rampart_deploy::files::client::ClientFile;
use rampart_deploy::files::cluster::{ClusterFile, ClusterProtocol};
use rampart_deploy::files::parse;
use rampart_deploy::files::replica::ReplicaFile;

use crate::Outcome;
use crate::fixture::fixture;

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

pub fn cluster_toml(data: &[u8]) -> Outcome {
    let Some(file) = text(data).and_then(|text| parse::<ClusterFile>(text).ok()) else {
        return Outcome::Refused;
    };
    let checked = file.check();
    let rendered: ClusterFile = parse(&file.render().expect("a parsed cluster file renders"))
        .expect("a rendered cluster file parses");
    assert_eq!(rendered, file, "the cluster file changed through render");
    match checked {
        Ok(spec) => {
            spec.protocol.config(spec.cluster.clone());
            Outcome::Accepted
        }
        Err(_) => Outcome::Refused,
    }
}

pub fn replica_toml(data: &[u8]) -> Outcome {
    let Some(file) = text(data).and_then(|text| parse::<ReplicaFile>(text).ok()) else {
        return Outcome::Refused;
    };
    let rendered: ReplicaFile = parse(&file.render().expect("a parsed replica file renders"))
        .expect("a rendered replica file parses");
    assert_eq!(rendered, file, "the replica file changed through render");
    if file.tick().is_err() {
        return Outcome::Refused;
    }
    let config = file
        .protocol
        .config(fixture().cluster.clone(), &ClusterProtocol::default());
    match config.validate() {
        Ok(()) => {
            config.limits();
            config.message_bytes_max();
            Outcome::Accepted
        }
        Err(_) => Outcome::Refused,
    }
}

pub fn client_toml(data: &[u8]) -> Outcome {
    let Some(file) = text(data).and_then(|text| parse::<ClientFile>(text).ok()) else {
        return Outcome::Refused;
    };
    let rendered: ClientFile = parse(&file.render(0).expect("a parsed client file renders"))
        .expect("a rendered client file parses");
    assert_eq!(rendered, file, "the client file changed through render");
    match file.check() {
        Ok(()) => Outcome::Accepted,
        Err(_) => Outcome::Refused,
    }
}
