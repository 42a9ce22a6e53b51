//! Seeds for the configuration and key files of `rampart init`.

use std::path::Path;

use rampart_crypto::{ClusterId, KeyPair, save_key_pair, save_public_key};
use rampart_deploy::files::client::ClientFile;
use rampart_deploy::files::clients::ClientsTable;
use rampart_deploy::files::cluster::{
    ApplicationKind, ClusterFile, ClusterProtocol, InterlockGenesis, ReplicaEntry,
};
use rampart_deploy::files::encoding::{ClusterIdHex, KeyHex};
use rampart_deploy::files::replica::ReplicaFile;

use super::Seed;

fn cluster_file(application: ApplicationKind) -> ClusterFile {
    let key = |seed| KeyHex(KeyPair::from_seed(seed).public_key());
    let mut file = ClusterFile {
        cluster_id: ClusterIdHex(ClusterId(0x5f1c_0e9a_7d3b_2a41)),
        application,
        replicas: (0..4)
            .map(|i| ReplicaEntry {
                key: key(i),
                address: format!("127.0.0.1:{}", 7100 + i),
                metrics: None,
            })
            .collect(),
        protocol: ClusterProtocol::default(),
        clients: ClientsTable::listed((0..3).map(|i| KeyPair::from_seed(3_000 + i).public_key())),
        interlock: (application == ApplicationKind::Interlock).then(|| InterlockGenesis {
            registered_agents: (0..7).map(|i| key(2_000 + i)).collect(),
            units: vec!["reactor-1".into(), "valve \"2\"".into()],
            shutdown_quorum: 5,
            faulty_agents_tolerated: 2,
            min_confidence_percent: 50,
        }),
    };
    // As `rampart init` writes it: the id is the digest of the settings.
    file.cluster_id = ClusterIdHex(file.settings().cluster_id());
    file
}

pub(super) fn cluster_toml() -> Vec<Seed> {
    [ApplicationKind::Kv, ApplicationKind::Interlock]
        .into_iter()
        .map(|kind| {
            (
                kind.name().to_string(),
                cluster_file(kind).render().expect("renders").into_bytes(),
            )
        })
        .collect()
}

pub(super) fn replica_toml() -> Vec<Seed> {
    let mut restricted = ReplicaFile::new(2, "127.0.0.1:7102".parse().expect("an address"));
    restricted.limits.client_bytes_in_flight_max = 1 << 20;
    restricted.limits.client_requests_in_flight_max = Some(8);
    restricted.limits.connections_max = 16;
    restricted.tick_ms = 5;
    vec![
        (
            "default".into(),
            ReplicaFile::new(0, "0.0.0.0:7100".parse().expect("an address"))
                .render()
                .expect("renders")
                .into_bytes(),
        ),
        (
            "limits".into(),
            restricted.render().expect("renders").into_bytes(),
        ),
    ]
}

pub(super) fn client_toml() -> Vec<Seed> {
    vec![(
        "default".into(),
        ClientFile::new(0).render(0).expect("renders").into_bytes(),
    )]
}

pub(super) fn key_files() -> Vec<Seed> {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let read = |path: &Path| std::fs::read(path).expect("the key file");
    let secret = directory.path().join("replica.key");
    save_key_pair(&secret, &KeyPair::from_seed(7)).expect("saves");
    let public = directory.path().join("replica.pub");
    save_public_key(&public, &KeyPair::from_seed(7).public_key()).expect("saves");
    vec![
        ("secret".into(), read(&secret)),
        ("public".into(), read(&public)),
    ]
}
