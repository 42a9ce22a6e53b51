//! Replays every corpus file through its fuzz target: the seeds, the inputs fuzzing kept,
//! and the inputs that once crashed a decoder (named `crash-*`), kept as regressions.
//! A target panics on a bug, so a replay that passes means none of these inputs finds one.

use std::path::{Path, PathBuf};

use rampart_fuzz::{Outcome, TARGETS, Target, seeds, target};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn files(directory: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", directory.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &Target) {
    let directory = corpus().join(target.name);
    let files = files(&directory);
    assert!(!files.is_empty(), "{} has no corpus", target.name);
    for path in files {
        let bytes = std::fs::read(&path).expect("a corpus file");
        eprintln!("{}", path.display());
        (target.run)(&bytes);
    }
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(target(stringify!($name)).expect("a target of that name"));
            }
        )*

        #[test]
        fn every_target_is_replayed() {
            let replayed = [$(stringify!($name)),*];
            for target in TARGETS {
                assert!(replayed.contains(&target.name), "{} is not replayed", target.name);
            }
        }
    };
}

replay_tests!(
    frame,
    peer_frame,
    client_frame,
    message,
    replica_frame,
    certificate_file,
    state_transfer,
    store_record,
    cluster_toml,
    replica_toml,
    client_toml,
    key_file,
    app_operation,
    core,
);

#[test]
fn every_corpus_directory_belongs_to_a_target() {
    for directory in std::fs::read_dir(corpus()).expect("the corpus") {
        let name = directory.expect("an entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            target(&name).is_some(),
            "corpus/{name} belongs to no target"
        );
    }
}

/// The seeds are valid encodings: each is accepted by its target (but those named
/// `refused-*`, made to be refused), and the copy in the corpus is the one the generator
/// makes now.
#[test]
fn seeds_are_accepted_and_current() {
    let mut wrong = Vec::new();
    for target in TARGETS {
        let seeds = seeds::seeds(target.name);
        assert!(!seeds.is_empty(), "{} has no seeds", target.name);
        for (name, bytes) in seeds {
            let expected = if name.starts_with("refused-") {
                Outcome::Refused
            } else {
                Outcome::Accepted
            };
            let outcome = (target.run)(&bytes);
            if outcome != expected {
                wrong.push(format!("{}/seed-{name}: {outcome:?}", target.name));
            }
            let path = corpus().join(target.name).join(format!("seed-{name}"));
            let stored = std::fs::read(&path).unwrap_or_default();
            assert!(
                stored == bytes,
                "{} is not the current seed; run `cargo run -p rampart-fuzz --bin seed-corpus`",
                path.display()
            );
        }
    }
    assert!(wrong.is_empty(), "seeds with another outcome: {wrong:#?}");
}

/// The protocol core's seeds take a replica where they say: through the normal case to a
/// stable checkpoint, into a new view, and to a stable checkpoint it lacks.
#[test]
fn core_seeds_go_deep() {
    let seed = |name: &str| {
        let seeds = seeds::seeds("core");
        let (_, bytes) = seeds.into_iter().find(|(n, _)| n == name).expect("a seed");
        rampart_fuzz::targets::core::reached(&bytes)
    };
    for name in [
        "normal-case",
        "normal-case-tentative",
        "normal-case-explicit-execute",
    ] {
        let reached = seed(name);
        assert!(
            reached.last_executed >= 4 && reached.stable_seq == 4,
            "{name}: {reached:?}"
        );
    }
    for name in ["view-change", "view-change-new-primary"] {
        let reached = seed(name);
        assert!(reached.view == 1 && reached.normal, "{name}: {reached:?}");
    }
    let reached = seed("state-transfer");
    assert!(reached.stable_seq == 8, "state-transfer: {reached:?}");
}
