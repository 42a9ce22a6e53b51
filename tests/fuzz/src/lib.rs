//! Fuzz targets for every decoder that sees outside input, and one for the protocol core.
//!
//! Each target is a plain function from bytes ([`Target::run`]) so that the same code runs
//! in two places:
//!
//! - `tests/replay.rs` (stable Rust, part of `make test`) replays every file under
//!   `corpus/<target>/` through its target: the seeds, everything fuzzing found
//!   interesting, and every input that once crashed a decoder;
//! - `harness/` is a cargo-fuzz package (nightly, libFuzzer) with one binary per target;
//!   `scripts/fuzz` runs them and merges what they find back into the corpus.
//!
//! A target panics only when Rampart is wrong: a decoder that panics, over-allocates or
//! loops on bad input, a value that does not survive its own encoding, or a protocol
//! invariant the core breaks. Refusing bad input with an error is the expected outcome.

pub mod fixture;
pub mod seeds;
pub mod targets;

/// What a target made of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The input decoded (or, for the core, every step of it ran).
    Accepted,
    /// The input was refused with an error, as bad input must be.
    Refused,
}

/// One fuzz target.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The directory of its corpus under `corpus/` and the name of its libFuzzer binary.
    pub name: &'static str,
    pub run: fn(&[u8]) -> Outcome,
}

/// Every target, in the order `scripts/fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "frame",
        run: targets::frame::run,
    },
    Target {
        name: "peer_frame",
        run: targets::wire::peer_frame,
    },
    Target {
        name: "client_frame",
        run: targets::wire::client_frame,
    },
    Target {
        name: "message",
        run: targets::message::run,
    },
    Target {
        name: "replica_frame",
        run: targets::client::replica_frame,
    },
    Target {
        name: "certificate_file",
        run: targets::client::certificate_file,
    },
    Target {
        name: "state_transfer",
        run: targets::transfer::run,
    },
    Target {
        name: "store_record",
        run: targets::store::run,
    },
    Target {
        name: "cluster_toml",
        run: targets::config::cluster_toml,
    },
    Target {
        name: "replica_toml",
        run: targets::config::replica_toml,
    },
    Target {
        name: "client_toml",
        run: targets::config::client_toml,
    },
    Target {
        name: "key_file",
        run: targets::key_file::run,
    },
    Target {
        name: "app_operation",
        run: targets::app::run,
    },
    Target {
        name: "core",
        run: targets::core::run,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|target| target.name == name)
}

/// Reads structured choices off the front of a fuzz input. Past the end it reads zeros, so
/// every input means something, and a fuzzer's small changes make small differences.
#[derive(Debug)]
pub struct Choices<'a> {
    rest: &'a [u8],
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Choices<'a> {
        Choices { rest: data }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&byte, rest)) => {
                self.rest = rest;
                byte
            }
            None => 0,
        }
    }

    /// A number below `bound` (which must not be 0).
    pub fn below(&mut self, bound: u8) -> u8 {
        self.byte() % bound
    }

    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// The next `len` bytes, or as many as are left.
    pub fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (head, rest) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = rest;
        head
    }

    /// A slice with a u16 length prefix.
    pub fn slice(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16());
        self.bytes(len)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }
}
