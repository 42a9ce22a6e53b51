//! Batch verification of ed25519 signatures with one term per distinct signer.
//!
//! A batch of n signatures (Rᵢ, sᵢ) by keys Aᵢ on messages Mᵢ is valid, with overwhelming
//! probability, when for random 128-bit scalars zᵢ
//!
//! ```text
//! −(Σ zᵢ·sᵢ)·B + Σ zᵢ·Rᵢ + Σ (zᵢ·hᵢ)·Aᵢ = 0,    hᵢ = SHA-512(Rᵢ ‖ Aᵢ ‖ Mᵢ) mod ℓ
//! ```
//!
//! which is what `ed25519_dalek::verify_batch` checks. The cost is one multiscalar
//! multiplication whose price grows with its number of points, 2n + 1 there. Rampart's
//! batches often hold several signatures by one signer (a client's pipelined requests,
//! a replica's PREPAREs and COMMITs for successive sequence numbers), and the terms of one
//! key add up: Σ over the signatures of key A of (zᵢ·hᵢ)·A is (Σ zᵢ·hᵢ)·A. So the
//! multiplication here has one point per distinct signer, n + k + 1 points for k signers,
//! which for a batch of 64 requests from 16 clients is 81 points instead of 129. With
//! distinct signers it does exactly the work of `ed25519_dalek::verify_batch`.
//!
//! The coefficients zᵢ come from the operating system's generator, so that no signer can
//! choose signatures whose errors cancel; if it fails, the caller verifies one by one.
//!
//! # One rule for single and batch verification
//!
//! Both [`verify_one`] and [`verify_batch`] check the *cofactored* equation, multiplied by
//! the cofactor 8 (as ZIP-215 does), refuse a non-canonical sᵢ and refuse an Rᵢ of small
//! order; the keys are the caller's, decompressed and checked not to be weak. With the
//! cofactorless equation of `verify_strict` and `ed25519_dalek::verify_batch`, a
//! signature whose R has a small-order component (R = rB + T, which any key holder can
//! make) fails alone but passes a batch whenever zᵢ happens to be a multiple of T's order:
//! with probability 1/2 to 1/8, different at each replica. A Byzantine client could then
//! have its request accepted by some replicas and refused by others, and the primary's
//! PRE-PREPARE refused by some backups. With the cofactored equation such a signature is
//! valid alone and in every batch, and an invalid one fails both: whether a signature is
//! accepted does not depend on the batch it travels in.

use std::collections::HashMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest as _, Sha512};

use crate::{CryptoError, Signature, SignatureCheck};

/// Checks one signature, where `key` is the decompressed key of `check.key`: `Ok` if
/// [8]([s]B − [h]A − R) is the identity.
pub(crate) fn verify_one(check: &SignatureCheck, key: &EdwardsPoint) -> Result<(), CryptoError> {
    let (r, s) = parse(&check.signature).ok_or(CryptoError::InvalidSignature)?;
    let h = challenge(check);
    let difference = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-h, key, &s) - r;
    if difference.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(CryptoError::InvalidSignature)
    }
}

/// Where the random coefficients come from: fills its buffer, or says why it cannot.
pub(crate) type Coefficients = fn(&mut [u8]) -> Result<(), String>;

/// The operating system's generator, the coefficients' source outside tests.
pub(crate) fn system_random(buffer: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buffer).map_err(|error| error.to_string())
}

/// Checks every signature of `checks` at once, where `keys[i]` is the decompressed key of
/// `checks[i]` and the coefficients come from `random`. `Ok` only if the batch equation,
/// times the cofactor, holds; [`CryptoError::Random`] if `random` fails.
pub(crate) fn verify_batch(
    checks: &[SignatureCheck],
    keys: &[EdwardsPoint],
    random: Coefficients,
) -> Result<(), CryptoError> {
    if checks.len() != keys.len() {
        return Err(CryptoError::InvalidSignature);
    }
    let mut coefficients = vec![0u8; 16 * checks.len()];
    random(&mut coefficients).map_err(|reason| CryptoError::Random { reason })?;

    // Points: B, then each Rᵢ, then each distinct key; scalars alike.
    let mut points = Vec::with_capacity(1 + 2 * checks.len());
    let mut scalars = Vec::with_capacity(1 + 2 * checks.len());
    points.push(ED25519_BASEPOINT_POINT);
    scalars.push(Scalar::ZERO);
    let mut key_terms: Vec<(EdwardsPoint, Scalar)> = Vec::new();
    let mut key_index: HashMap<&[u8; 32], usize> = HashMap::with_capacity(checks.len());
    let mut base = Scalar::ZERO;

    for ((check, key), z) in checks.iter().zip(keys).zip(coefficients.chunks_exact(16)) {
        let (r, s) = parse(&check.signature).ok_or(CryptoError::InvalidSignature)?;
        let h = challenge(check);
        let z = Scalar::from(u128::from_le_bytes(z.try_into().expect("16 bytes")));

        base -= z * s;
        points.push(r);
        scalars.push(z);
        let term = *key_index.entry(check.key.as_bytes()).or_insert_with(|| {
            key_terms.push((*key, Scalar::ZERO));
            key_terms.len() - 1
        });
        key_terms[term].1 += z * h;
    }
    scalars[0] = base;
    for (key, scalar) in key_terms {
        points.push(key);
        scalars.push(scalar);
    }

    let sum = EdwardsPoint::vartime_multiscalar_mul(&scalars, &points);
    if sum.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(CryptoError::InvalidSignature)
    }
}

/// h = SHA-512(R ‖ A ‖ M) mod ℓ.
fn challenge(check: &SignatureCheck) -> Scalar {
    let mut hash = Sha512::new();
    hash.update(&check.signature.0[..32]);
    hash.update(check.key.as_bytes());
    hash.update(&check.message);
    Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
}

/// R and s of a signature: `None` if s is not canonical or R is not a point, or is one of
/// small order.
fn parse(signature: &Signature) -> Option<(EdwardsPoint, Scalar)> {
    let (r_bytes, s_bytes) = signature.0.split_at(32);
    let s = Scalar::from_canonical_bytes(s_bytes.try_into().ok()?);
    let r = CompressedEdwardsY(r_bytes.try_into().ok()?).decompress()?;
    Option::<Scalar>::from(s)
        .filter(|_| !r.is_small_order())
        .map(|s| (r, s))
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::EIGHT_TORSION;

    use super::*;
    use crate::signature::signed_check as check;
    use crate::{KeyPair, Verifier};

    fn points(checks: &[SignatureCheck]) -> Vec<EdwardsPoint> {
        checks
            .iter()
            .map(|check| {
                CompressedEdwardsY(check.key.0)
                    .decompress()
                    .expect("a valid key")
            })
            .collect()
    }

    fn verify(checks: &[SignatureCheck]) -> Result<(), CryptoError> {
        verify_batch(checks, &points(checks), system_random)
    }

    fn broken_generator(_: &mut [u8]) -> Result<(), String> {
        Err("no entropy".to_string())
    }

    /// Signatures by 3 signers over 12 messages: 4 signatures per key.
    fn shared_signers() -> Vec<SignatureCheck> {
        (0..12u64)
            .map(|index| check(index % 3, &index.to_le_bytes()))
            .collect()
    }

    #[test]
    fn valid_signatures_by_shared_and_distinct_signers_pass() {
        assert!(verify(&shared_signers()).is_ok());
        let distinct: Vec<_> = (0..9u64).map(|i| check(i, b"same message")).collect();
        assert!(verify(&distinct).is_ok());
        assert!(verify(&shared_signers()[..1]).is_ok());
    }

    #[test]
    fn any_bad_signature_fails_the_batch() {
        for victim in [0, 5, 11] {
            let mut checks = shared_signers();
            checks[victim].message.push(0);
            assert!(verify(&checks).is_err(), "altered message {victim}");

            let mut checks = shared_signers();
            checks[victim].signature.0[40] ^= 1;
            assert!(verify(&checks).is_err(), "altered signature {victim}");
        }
        // Two signatures of one signer, each presented with the other's message.
        let mut checks = shared_signers();
        let (first, fourth) = (checks[0].message.clone(), checks[3].message.clone());
        checks[0].message = fourth;
        checks[3].message = first;
        assert!(verify(&checks).is_err());
        // A signature attributed to another signer.
        let mut checks = shared_signers();
        checks[4].key = checks[5].key;
        assert!(verify(&checks).is_err());
    }

    /// s₁ + δ and s₂ − δ on two signatures of one signer satisfy the sum of their equations
    /// but neither equation: only coefficients the signer cannot predict catch it.
    #[test]
    fn errors_that_cancel_out_in_a_plain_sum_are_caught() {
        let mut checks = shared_signers();
        let delta = Scalar::from(12_345u64);
        let shift = |signature: &mut Signature, by: Scalar| {
            let s_bytes: [u8; 32] = signature.0[32..].try_into().expect("32 bytes");
            let s = Scalar::from_canonical_bytes(s_bytes).expect("canonical");
            signature.0[32..].copy_from_slice((s + by).as_bytes());
        };
        shift(&mut checks[0].signature, delta);
        shift(&mut checks[3].signature, -delta);
        assert!(verify(&checks).is_err());
    }

    #[test]
    fn a_non_canonical_s_is_refused() {
        let mut checks = shared_signers();
        // s + ℓ encodes the same scalar modulo ℓ but is not its canonical encoding; s < ℓ
        // and ℓ < 2²⁵³, so the sum fits in 32 bytes.
        const ELL: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let s = &mut checks[2].signature.0[32..];
        let mut carry = 0u16;
        for (byte, ell) in s.iter_mut().zip(ELL) {
            let sum = u16::from(*byte) + u16::from(ell) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert!(verify(&checks).is_err());
    }

    #[test]
    fn an_r_of_small_order_is_refused_as_by_verify_strict() {
        let valid = shared_signers()[1].signature;
        assert!(parse(&valid).is_some());
        for torsion in &EIGHT_TORSION {
            let mut signature = valid;
            signature.0[..32].copy_from_slice(torsion.compress().as_bytes());
            assert!(parse(&signature).is_none(), "{torsion:?}");
        }
    }

    /// A valid signature whose R has a component of order 8: R = rB + T, s = r + h·a.
    fn mixed_order_signature(signer: u64, message: &[u8]) -> SignatureCheck {
        let key_pair = KeyPair::from_seed(signer);
        let expanded: [u8; 64] = Sha512::digest(key_pair.secret_bytes()).into();
        let mut clamped: [u8; 32] = expanded[..32].try_into().expect("32 bytes");
        clamped[0] &= 248;
        clamped[31] &= 127;
        clamped[31] |= 64;
        let a = Scalar::from_bytes_mod_order(clamped);
        let nonce = Scalar::from(987_654_321u64);
        let r = EdwardsPoint::mul_base(&nonce) + EIGHT_TORSION[1];
        let mut check = SignatureCheck {
            key: key_pair.public_key(),
            message: message.to_vec(),
            signature: Signature([0; 64]),
        };
        check.signature.0[..32].copy_from_slice(r.compress().as_bytes());
        let s = nonce + challenge(&check) * a;
        check.signature.0[32..].copy_from_slice(s.as_bytes());
        check
    }

    /// Such a signature fails `verify_strict` and would pass a cofactorless batch only when
    /// its coefficient is a multiple of 8; under the cofactored rule it passes alone and in
    /// every batch, whatever the coefficients.
    #[test]
    fn a_signature_with_a_mixed_order_r_gets_the_same_answer_alone_and_in_every_batch() {
        let mixed = mixed_order_signature(4, b"mixed");
        let key = points(std::slice::from_ref(&mixed))[0];
        assert!(verify_one(&mixed, &key).is_ok());
        let strict = ed25519_dalek::VerifyingKey::from_bytes(&mixed.key.0)
            .expect("a valid key")
            .verify_strict(
                &mixed.message,
                &ed25519_dalek::Signature::from_bytes(&mixed.signature.0),
            );
        assert!(strict.is_err());
        let mut checks = shared_signers();
        checks.push(mixed.clone());
        for round in 0..32 {
            assert!(verify(&checks).is_ok(), "round {round}");
        }
        // Still bound to its message.
        let mut other = mixed;
        other.message = b"mixes".to_vec();
        assert!(verify_one(&other, &key).is_err());
        checks.push(other);
        assert!(verify(&checks).is_err());
    }

    #[test]
    fn keys_and_checks_must_pair_up() {
        let checks = shared_signers();
        let keys = points(&checks);
        assert!(verify_batch(&checks, &keys[1..], system_random).is_err());
    }

    #[test]
    fn without_coefficients_there_is_no_verdict_but_an_error_that_says_why() {
        let checks = shared_signers();
        match verify_batch(&checks, &points(&checks), broken_generator) {
            Err(CryptoError::Random { reason }) => assert_eq!(reason, "no entropy"),
            other => panic!("expected a random-generator error, got {other:?}"),
        }
    }

    #[test]
    fn it_agrees_with_single_verification() {
        let verifier = crate::Ed25519::new();
        for seed in 0..8u8 {
            let mut checks = shared_signers();
            let victim = usize::from(seed) % checks.len();
            if seed % 2 == 1 {
                checks[victim].signature.0[usize::from(seed)] ^= 0x10;
            }
            let singly = checks.iter().all(|check| verifier.verify(check).is_ok());
            assert_eq!(verify(&checks).is_ok(), singly, "seed {seed}");
        }
    }
}
