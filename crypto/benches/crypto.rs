//! The cost of the cryptographic primitives every protocol message pays: ed25519 signing,
//! single and batch verification, and SHA-256.
//!
//! Run with `cargo bench -p rampart-crypto`. Throughput is reported per signature (or per
//! byte for SHA-256), so the batch sizes compare directly with single verification.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_crypto::{Digest, Ed25519, KeyPair, SignatureCheck, Signer, Verifier};

/// About the size of the signed encoding of a PREPARE or COMMIT.
const MESSAGE_BYTES: usize = 64;

const BATCH_SIZES: [usize; 4] = [8, 32, 64, 128];

fn message(index: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; MESSAGE_BYTES];
    bytes[..8].copy_from_slice(&(index as u64).to_le_bytes());
    bytes
}

/// A signature by a distinct signer over a distinct message, as the requests of a batch from
/// as many clients are.
fn check(index: usize) -> SignatureCheck {
    check_by(index, index)
}

/// The signature of signer `signer` over the distinct message `index`.
fn check_by(index: usize, signer: usize) -> SignatureCheck {
    let key_pair = KeyPair::from_seed(signer as u64);
    let message = message(index);
    SignatureCheck {
        key: key_pair.public_key(),
        signature: key_pair.sign(&message),
        message,
    }
}

fn ed25519(c: &mut Criterion) {
    let mut group = c.benchmark_group("ed25519");
    group.throughput(Throughput::Elements(1));
    let key_pair = KeyPair::from_seed(1);
    let bytes = message(1);
    group.bench_function("sign", |b| b.iter(|| key_pair.sign(black_box(&bytes))));

    // The verifier caches decompressed keys, as it does in a running replica.
    let verifier = Ed25519::new();
    let single = check(1);
    group.bench_function("verify", |b| b.iter(|| verifier.verify(black_box(&single))));

    for size in BATCH_SIZES {
        let checks: Vec<SignatureCheck> = (0..size).map(check).collect();
        verifier.verify_batch(&checks).expect("valid signatures");
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("verify_batch/{size}"), |b| {
            b.iter(|| verifier.verify_batch(black_box(&checks)))
        });
    }
    // A batch holds several signatures by one signer when clients pipeline requests, and
    // when a replica's PREPAREs and COMMITs for several sequence numbers are checked
    // together; the verifier adds up the terms of one key.
    for (size, signers) in [(64, 16), (64, 4)] {
        let checks: Vec<SignatureCheck> = (0..size).map(|i| check_by(i, i % signers)).collect();
        verifier.verify_batch(&checks).expect("valid signatures");
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("verify_batch/{size}_by_{signers}_signers"), |b| {
            b.iter(|| verifier.verify_batch(black_box(&checks)))
        });
    }
    group.finish();
}

fn sha256(c: &mut Criterion) {
    let mut group = c.benchmark_group("sha256");
    for (name, bytes) in [("1KiB", 1usize << 10), ("1MiB", 1 << 20)] {
        let data = vec![0xa5u8; bytes];
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name, |b| b.iter(|| Digest::of(black_box(&data))));
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = ed25519, sha256
}
criterion_main!(benches);
