//! How fast this machine can do Rampart's cryptography, and the throughput ceiling that
//! follows for a PBFT run whose replicas (and, optionally, clients) all share its cores.
//!
//! [`Calibration::measure`] times, in this process, the operations every request pays
//! for: an ed25519 signature, a single verification, a batch verification (per signature,
//! batches of [`BATCH_VERIFY_SIZE`]) and SHA-256 (per KiB). [`Ceiling::compute`] turns
//! those costs into the most operations per second the machine could complete if it did
//! nothing but that cryptography. A benchmark divides what it measured by the ceiling
//! ([`Ceiling::fraction_of_ceiling`]) to tell how much room the rest of the system leaves.
//!
//! # The ceiling
//!
//! Notation: n replicas, batches of b requests, a checkpoint every K sequence numbers, a
//! share r of read-only operations, signed requests of q KiB; S is the cost of one
//! signature, V of one verification *in a batch*, H of hashing one KiB; c is 1 when the
//! clients run on this machine and 0 otherwise.
//!
//! Counting what the whole system does for one batch in the normal case (PBFT §4.2),
//! with the shell's rule that a replica hands its own broadcasts back to its core without
//! verifying them, and no signatures on replies (the client's QUIC connection
//! authenticates them):
//!
//! | message     | signed by              | verified by, each           | signatures | verifications |
//! |-------------|------------------------|-----------------------------|------------|---------------|
//! | PRE-PREPARE | the primary            | the n − 1 backups           | 1          | n − 1         |
//! | PREPARE     | each of n − 1 backups  | the n − 1 other replicas    | n − 1      | (n − 1)²      |
//! | COMMIT      | each of n replicas     | the n − 1 other replicas    | n          | n(n − 1)      |
//! | total       |                        |                             | 2n         | 2n(n − 1)     |
//!
//! Every K batches each replica also signs a CHECKPOINT (PBFT §4.3) that the n − 1 others
//! verify: n signatures and n(n − 1) verifications per K batches. Each request is signed
//! once by its client and verified once by every replica: by the primary when it arrives,
//! and by each backup inside the PRE-PREPARE that carries it. Every replica hashes every
//! request for the batch digest. So, per ordered operation,
//!
//! ```text
//! ordered   = c·S + n·V + n·q·H + (2n·S + 2n(n−1)·V) / b + (n·S + n(n−1)·V) / (K·b)
//! ```
//!
//! A read-only operation (PBFT §5.1.3) is not ordered: the client signs it and sends it to
//! every replica, each of which verifies it and answers from its current state:
//!
//! ```text
//! read_only = c·S + n·V
//! cpu_ns_per_op = (1 − r)·ordered + r·read_only
//! ops_per_s     = cores · 10⁹ / cpu_ns_per_op
//! ```
//!
//! V is measured on signatures by distinct signers. Rampart's batch verification adds up
//! the terms of one signer (`rampart_crypto`'s `batch.rs`), so a batch holding several
//! requests of one client, or several messages of one replica, costs less than V per
//! signature; the ceiling does not count that saving, which a run whose clients keep many
//! requests outstanding earns.
//!
//! It is a ceiling, not a prediction: it counts neither the batch verification's
//! per-batch overhead (the shell may verify small messages one by one), nor
//! retransmissions, forwarded requests, STATUS messages, view changes, state transfer,
//! the ed25519 key cache's misses, encoding, the network stack, storage, the application,
//! or the protocol core itself (see the `round` bench for that).

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rampart_crypto::{
    Digest, Ed25519, KeyPair, PublicKey, Signature, SignatureCheck, Signed, Signer, Verifier,
};

use rampart_replica::message::{ClientId, Request, encode};

/// How many signatures one calibrated batch verification checks.
pub const BATCH_VERIFY_SIZE: usize = 64;

/// Short runs per measured operation; the calibration keeps their median.
const RUNS: u32 = 5;

/// About the size of the signed encoding of a PREPARE or COMMIT.
const MESSAGE_BYTES: usize = 64;

/// The clock is read after a chunk of calls that takes about this long, so that reading it
/// does not weigh on cheap operations.
const CHUNK: Duration = Duration::from_micros(20);

/// The operation size [`CeilingInputs::new`] assumes.
pub const DEFAULT_OPERATION_BYTES: usize = 64;

/// The cost of each cryptographic operation on this machine, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    /// One ed25519 signature over a short message.
    pub sign_ns: f64,
    /// One ed25519 verification on its own (strict, public key cached).
    pub verify_ns: f64,
    /// One signature's share of a batch verification of [`BATCH_VERIFY_SIZE`] signatures
    /// by distinct signers.
    pub batch_verify_ns_per_signature: f64,
    /// SHA-256 of one KiB.
    pub sha256_ns_per_kib: f64,
}

impl Calibration {
    /// Times each operation for about `duration_per_item`, split into several short runs,
    /// and keeps the median run's cost per operation. Every operation runs at least once
    /// per run, however short the duration.
    pub fn measure(duration_per_item: Duration) -> Calibration {
        let run = duration_per_item / RUNS;
        let key_pair = KeyPair::from_seed(1);
        let message = vec![0x5au8; MESSAGE_BYTES];
        let sign_ns = median_ns_per_op(run, 1, || {
            black_box(key_pair.sign(black_box(&message)));
        });

        // One verifier throughout, so decompressed keys are cached as in a running replica.
        let verifier = Ed25519::new();
        let single = check(&key_pair, message.clone());
        let verify_ns = median_ns_per_op(run, 1, || {
            let _ = black_box(verifier.verify(black_box(&single)));
        });
        let checks: Vec<SignatureCheck> = (0..BATCH_VERIFY_SIZE)
            .map(|index| {
                let mut message = message.clone();
                message[..8].copy_from_slice(&(index as u64).to_le_bytes());
                check(&KeyPair::from_seed(index as u64 + 2), message)
            })
            .collect();
        let batch_verify_ns_per_signature = median_ns_per_op(run, BATCH_VERIFY_SIZE, || {
            let _ = black_box(verifier.verify_batch(black_box(&checks)));
        });

        let kib = vec![0xa5u8; 1024];
        let sha256_ns_per_kib = median_ns_per_op(run, 1, || {
            black_box(Digest::of(black_box(&kib)));
        });
        Calibration {
            sign_ns,
            verify_ns,
            batch_verify_ns_per_signature,
            sha256_ns_per_kib,
        }
    }
}

impl Calibration {
    /// The mean of two calibrations, cost by cost. A benchmark calibrates before and after
    /// its measured period and uses the mean, so that the host's speed drifting during the
    /// run (shared virtual machines drift by tens of percent) weighs on both sides of its
    /// fraction alike.
    pub fn mean(&self, other: &Calibration) -> Calibration {
        let mean = |a: f64, b: f64| (a + b) / 2.0;
        Calibration {
            sign_ns: mean(self.sign_ns, other.sign_ns),
            verify_ns: mean(self.verify_ns, other.verify_ns),
            batch_verify_ns_per_signature: mean(
                self.batch_verify_ns_per_signature,
                other.batch_verify_ns_per_signature,
            ),
            sha256_ns_per_kib: mean(self.sha256_ns_per_kib, other.sha256_ns_per_kib),
        }
    }
}

fn check(key_pair: &KeyPair, message: Vec<u8>) -> SignatureCheck {
    SignatureCheck {
        key: key_pair.public_key(),
        signature: key_pair.sign(&message),
        message,
    }
}

/// The median over [`RUNS`] runs of about `run` each of the time per operation, where one
/// call of `operation` does `ops_per_call` operations.
fn median_ns_per_op(run: Duration, ops_per_call: usize, mut operation: impl FnMut()) -> f64 {
    // The first call warms caches (and the verifier's key cache) and sizes the chunk.
    let start = Instant::now();
    operation();
    let first_call_ns = start.elapsed().as_nanos().max(1);
    let chunk = (CHUNK.as_nanos() / first_call_ns).clamp(1, 1 << 16) as u64;

    let mut samples: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let mut calls = 0u64;
            loop {
                for _ in 0..chunk {
                    operation();
                }
                calls += chunk;
                let elapsed = start.elapsed();
                if elapsed >= run {
                    return elapsed.as_nanos() as f64 / (calls as f64 * ops_per_call as f64);
                }
            }
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The cores this process may use, as the standard library sees them (1 if unknown).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// The encoded size of a signed request whose operation has `operation_bytes` bytes: what
/// each replica hashes for the batch digest.
pub fn signed_request_bytes(operation_bytes: usize) -> usize {
    let request = Signed {
        value: Request {
            client: ClientId(PublicKey([0; 32])),
            number: u64::MAX,
            operation: Bytes::from(vec![0; operation_bytes]),
            read_only: false,
        },
        signature: Signature([0; 64]),
    };
    encode(&request).len()
}

/// What the ceiling depends on besides the calibration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CeilingInputs {
    /// n, the number of replicas.
    pub replicas: usize,
    /// b, the requests per batch (the batches actually cut, not the configured maximum).
    pub batch_size: usize,
    /// The cores the replicas (and clients, if they share the machine) run on.
    pub cores: usize,
    /// Whether the clients' signatures are made on this machine's cores.
    pub clients_share_machine: bool,
    /// r, the share of read-only operations, between 0 and 1.
    pub read_only_share: f64,
    /// K, the sequence numbers between checkpoints.
    pub checkpoint_interval: u64,
    /// The encoded size of one signed request (see [`signed_request_bytes`]).
    pub request_bytes: usize,
}

impl CeilingInputs {
    /// Inputs for `replicas` replicas cutting batches of `batch_size` with a checkpoint
    /// every `checkpoint_interval` sequence numbers, on all of this machine's cores, with
    /// the clients on the same machine, no read-only operations, and operations of
    /// [`DEFAULT_OPERATION_BYTES`].
    pub fn new(replicas: usize, batch_size: usize, checkpoint_interval: u64) -> CeilingInputs {
        CeilingInputs {
            replicas,
            batch_size,
            cores: available_cores(),
            clients_share_machine: true,
            read_only_share: 0.0,
            checkpoint_interval,
            request_bytes: signed_request_bytes(DEFAULT_OPERATION_BYTES),
        }
    }

    fn validate(&self) -> Result<(), CeilingError> {
        let positive = |field, value: u64| {
            if value == 0 {
                Err(CeilingError::Zero { field })
            } else {
                Ok(())
            }
        };
        positive("replicas", self.replicas as u64)?;
        positive("batch_size", self.batch_size as u64)?;
        positive("cores", self.cores as u64)?;
        positive("checkpoint_interval", self.checkpoint_interval)?;
        if !(0.0..=1.0).contains(&self.read_only_share) {
            return Err(CeilingError::ReadOnlyShare {
                value: self.read_only_share,
            });
        }
        Ok(())
    }
}

/// Why a ceiling cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CeilingError {
    #[error("{field} must be at least 1")]
    Zero { field: &'static str },
    #[error("the read-only share must be between 0 and 1, got {value}")]
    ReadOnlyShare { value: f64 },
}

/// One line of the breakdown: how many operations of one kind an average client operation
/// costs the system, and their CPU time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Signatures, verifications, or KiB hashed, per client operation.
    pub count_per_op: f64,
    pub ns_per_op: f64,
}

impl Cost {
    fn new(count_per_op: f64, ns_each: f64) -> Cost {
        Cost {
            count_per_op,
            ns_per_op: count_per_op * ns_each,
        }
    }

    fn mix(ordered: Cost, read_only: Cost, read_only_share: f64) -> Cost {
        let ordered_share = 1.0 - read_only_share;
        Cost {
            count_per_op: ordered_share * ordered.count_per_op
                + read_only_share * read_only.count_per_op,
            ns_per_op: ordered_share * ordered.ns_per_op + read_only_share * read_only.ns_per_op,
        }
    }
}

/// Where the CPU time of an average client operation goes (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Breakdown {
    /// c·S: the client signs its request.
    pub client_signatures: Cost,
    /// n·V: every replica verifies the request.
    pub request_verifications: Cost,
    /// n·q·H, ordered operations only: every replica hashes the request for the batch
    /// digest. Counted in KiB.
    pub request_digests: Cost,
    /// 2n·S / b: PRE-PREPARE, PREPAREs and COMMITs.
    pub agreement_signatures: Cost,
    /// 2n(n−1)·V / b.
    pub agreement_verifications: Cost,
    /// n·S / (K·b).
    pub checkpoint_signatures: Cost,
    /// n(n−1)·V / (K·b).
    pub checkpoint_verifications: Cost,
}

impl Breakdown {
    /// The lines with their names, for reports.
    pub fn items(&self) -> [(&'static str, Cost); 7] {
        [
            ("client signatures", self.client_signatures),
            ("request verifications", self.request_verifications),
            ("request digests (KiB)", self.request_digests),
            ("agreement signatures", self.agreement_signatures),
            ("agreement verifications", self.agreement_verifications),
            ("checkpoint signatures", self.checkpoint_signatures),
            ("checkpoint verifications", self.checkpoint_verifications),
        ]
    }

    pub fn total_ns_per_op(&self) -> f64 {
        self.items().iter().map(|(_, cost)| cost.ns_per_op).sum()
    }

    fn mix(ordered: &Breakdown, read_only: &Breakdown, read_only_share: f64) -> Breakdown {
        let mix = |o, r| Cost::mix(o, r, read_only_share);
        Breakdown {
            client_signatures: mix(ordered.client_signatures, read_only.client_signatures),
            request_verifications: mix(
                ordered.request_verifications,
                read_only.request_verifications,
            ),
            request_digests: mix(ordered.request_digests, read_only.request_digests),
            agreement_signatures: mix(ordered.agreement_signatures, read_only.agreement_signatures),
            agreement_verifications: mix(
                ordered.agreement_verifications,
                read_only.agreement_verifications,
            ),
            checkpoint_signatures: mix(
                ordered.checkpoint_signatures,
                read_only.checkpoint_signatures,
            ),
            checkpoint_verifications: mix(
                ordered.checkpoint_verifications,
                read_only.checkpoint_verifications,
            ),
        }
    }
}

/// The crypto-bound throughput ceiling (see the module docs for the formula).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ceiling {
    /// cores · 10⁹ / cpu_ns_per_op.
    pub ops_per_s: f64,
    /// The CPU time the whole system spends on cryptography per client operation.
    pub cpu_ns_per_op: f64,
    pub breakdown: Breakdown,
}

impl Ceiling {
    pub fn compute(
        calibration: Calibration,
        inputs: CeilingInputs,
    ) -> Result<Ceiling, CeilingError> {
        inputs.validate()?;
        let n = inputs.replicas as f64;
        let b = inputs.batch_size as f64;
        let per_checkpoint = inputs.checkpoint_interval as f64 * b;
        let sign = calibration.sign_ns;
        let verify = calibration.batch_verify_ns_per_signature;
        let client_signatures = if inputs.clients_share_machine {
            Cost::new(1.0, sign)
        } else {
            Cost::default()
        };
        let request_verifications = Cost::new(n, verify);
        let read_only = Breakdown {
            client_signatures,
            request_verifications,
            ..Breakdown::default()
        };
        let ordered = Breakdown {
            client_signatures,
            request_verifications,
            request_digests: Cost::new(
                n * inputs.request_bytes as f64 / 1024.0,
                calibration.sha256_ns_per_kib,
            ),
            agreement_signatures: Cost::new(2.0 * n / b, sign),
            agreement_verifications: Cost::new(2.0 * n * (n - 1.0) / b, verify),
            checkpoint_signatures: Cost::new(n / per_checkpoint, sign),
            checkpoint_verifications: Cost::new(n * (n - 1.0) / per_checkpoint, verify),
        };
        let breakdown = Breakdown::mix(&ordered, &read_only, inputs.read_only_share);
        let cpu_ns_per_op = breakdown.total_ns_per_op();
        Ok(Ceiling {
            ops_per_s: inputs.cores as f64 * 1e9 / cpu_ns_per_op,
            cpu_ns_per_op,
            breakdown,
        })
    }

    /// The share of the ceiling a measured throughput reaches.
    pub fn fraction_of_ceiling(&self, measured_ops_per_s: f64) -> f64 {
        measured_ops_per_s / self.ops_per_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Round numbers, so the expected values can be worked out by hand.
    const CALIBRATION: Calibration = Calibration {
        sign_ns: 20_000.0,
        verify_ns: 40_000.0,
        batch_verify_ns_per_signature: 10_000.0,
        sha256_ns_per_kib: 1_000.0,
    };

    fn inputs() -> CeilingInputs {
        CeilingInputs {
            replicas: 4,
            batch_size: 16,
            cores: 2,
            clients_share_machine: true,
            read_only_share: 0.0,
            checkpoint_interval: 128,
            request_bytes: 1024,
        }
    }

    #[test]
    fn the_mean_calibration_gives_a_ceiling_between_the_two() {
        let slower = Calibration {
            sign_ns: 30_000.0,
            verify_ns: 50_000.0,
            batch_verify_ns_per_signature: 14_000.0,
            sha256_ns_per_kib: 1_400.0,
        };
        let mean = CALIBRATION.mean(&slower);
        assert_close(mean.sign_ns, 25_000.0);
        assert_close(mean.verify_ns, 45_000.0);
        assert_close(mean.batch_verify_ns_per_signature, 12_000.0);
        assert_close(mean.sha256_ns_per_kib, 1_200.0);
        let ceiling = |calibration| {
            Ceiling::compute(calibration, inputs())
                .expect("valid inputs")
                .ops_per_s
        };
        let (fast, slow, middle) = (ceiling(CALIBRATION), ceiling(slower), ceiling(mean));
        assert!(slow < middle && middle < fast, "{slow} {middle} {fast}");
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{actual} != {expected}"
        );
    }

    #[test]
    fn the_ceiling_counts_every_signature_of_a_batch_by_hand() {
        let ceiling = Ceiling::compute(CALIBRATION, inputs()).expect("valid inputs");
        let parts = ceiling.breakdown;
        // n = 4, b = 16, K = 128: per batch 2n = 8 signatures and 2n(n−1) = 24
        // verifications; per checkpoint n = 4 and n(n−1) = 12, over K·b = 2048 operations.
        assert_close(parts.client_signatures.ns_per_op, 20_000.0);
        assert_close(parts.request_verifications.count_per_op, 4.0);
        assert_close(parts.request_verifications.ns_per_op, 40_000.0);
        assert_close(parts.request_digests.ns_per_op, 4_000.0);
        assert_close(parts.agreement_signatures.count_per_op, 0.5);
        assert_close(parts.agreement_signatures.ns_per_op, 10_000.0);
        assert_close(parts.agreement_verifications.count_per_op, 1.5);
        assert_close(parts.agreement_verifications.ns_per_op, 15_000.0);
        assert_close(
            parts.checkpoint_signatures.ns_per_op,
            4.0 / 2048.0 * 20_000.0,
        );
        assert_close(
            parts.checkpoint_verifications.ns_per_op,
            12.0 / 2048.0 * 10_000.0,
        );
        // 20 000 + 40 000 + 4 000 + 10 000 + 15 000 + 39.0625 + 58.59375
        assert_close(ceiling.cpu_ns_per_op, 89_097.656_25);
        assert_close(ceiling.ops_per_s, 2e9 / 89_097.656_25);
        assert!((ceiling.ops_per_s - 22_447.2).abs() < 0.1);
    }

    #[test]
    fn read_only_operations_skip_ordering_and_remote_clients_cost_nothing_here() {
        let inputs = CeilingInputs {
            clients_share_machine: false,
            read_only_share: 0.5,
            ..inputs()
        };
        let ceiling = Ceiling::compute(CALIBRATION, inputs).expect("valid inputs");
        // Ordered: 89 097.656 25 − 20 000 (the client's signature); read-only: 4 · 10 000.
        let expected = 0.5 * 69_097.656_25 + 0.5 * 40_000.0;
        assert_close(ceiling.cpu_ns_per_op, expected);
        assert_close(ceiling.breakdown.client_signatures.ns_per_op, 0.0);
        assert_close(ceiling.breakdown.request_digests.count_per_op, 2.0);
        assert_close(ceiling.ops_per_s, 2e9 / expected);
        assert_close(ceiling.fraction_of_ceiling(ceiling.ops_per_s / 4.0), 0.25);
    }

    #[test]
    fn larger_batches_amortize_agreement_but_not_requests() {
        let small = Ceiling::compute(CALIBRATION, inputs()).expect("valid inputs");
        let large = CeilingInputs {
            batch_size: 1 << 20,
            ..inputs()
        };
        let large = Ceiling::compute(CALIBRATION, large).expect("valid inputs");
        assert!(large.ops_per_s > small.ops_per_s);
        // What remains per operation is the client's signature, n verifications and digests.
        assert!((large.cpu_ns_per_op - 64_000.0).abs() < 1.0);
    }

    #[test]
    fn inputs_out_of_range_are_refused() {
        let cases = [
            (
                CeilingInputs {
                    replicas: 0,
                    ..inputs()
                },
                CeilingError::Zero { field: "replicas" },
            ),
            (
                CeilingInputs {
                    batch_size: 0,
                    ..inputs()
                },
                CeilingError::Zero {
                    field: "batch_size",
                },
            ),
            (
                CeilingInputs {
                    cores: 0,
                    ..inputs()
                },
                CeilingError::Zero { field: "cores" },
            ),
            (
                CeilingInputs {
                    checkpoint_interval: 0,
                    ..inputs()
                },
                CeilingError::Zero {
                    field: "checkpoint_interval",
                },
            ),
            (
                CeilingInputs {
                    read_only_share: 1.5,
                    ..inputs()
                },
                CeilingError::ReadOnlyShare { value: 1.5 },
            ),
        ];
        for (inputs, expected) in cases {
            assert_eq!(Ceiling::compute(CALIBRATION, inputs), Err(expected));
        }
        let nan = CeilingInputs {
            read_only_share: f64::NAN,
            ..inputs()
        };
        assert!(Ceiling::compute(CALIBRATION, nan).is_err());
    }

    #[test]
    fn a_signed_request_is_its_operation_plus_a_fixed_envelope() {
        let envelope = signed_request_bytes(0);
        assert!(envelope > 32 + 64, "a key and a signature at least");
        assert_eq!(signed_request_bytes(100), envelope + 100);
    }

    /// Only the shape of the result is checked: timings vary from machine to machine.
    #[test]
    fn measured_costs_are_positive_and_give_a_finite_ceiling() {
        // Whether batching pays is a speed figure, which `rampart bench` prints; on a
        // loaded machine a 50 ms sample can say either, so it is not asserted here.
        let calibration = Calibration::measure(Duration::from_millis(50));
        assert!(calibration.sign_ns > 0.0);
        assert!(calibration.verify_ns > 0.0);
        assert!(calibration.batch_verify_ns_per_signature > 0.0);
        assert!(calibration.sha256_ns_per_kib > 0.0);
        let ceiling =
            Ceiling::compute(calibration, CeilingInputs::new(4, 16, 128)).expect("valid inputs");
        assert!(ceiling.ops_per_s.is_finite() && ceiling.ops_per_s > 0.0);
    }
}
