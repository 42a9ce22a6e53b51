//! Commit certificates in files, and checking them offline.
//!
//! # File format
//!
//! The 23 ASCII bytes `rampart-certificate-v1\n`, then the [`Certificate`] in Rampart's
//! wire encoding (bincode's standard configuration, as `rampart_replica::message::encode`
//! writes it): the client's signed request, the sequence number, the quorum of signed
//! COMMITs with the batch's request digests, and f + 1 signed replies. The header lets
//! `head -1` say what the file is, and lets a reader refuse another file with a clear
//! message; everything after it is what the replicas signed, so the file needs no
//! protection of its own: a changed byte makes it fail to verify.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rampart_client::{Certificate, VerifiedCommit};
use rampart_replica::app::{Operation, decode_output};
use rampart_replica::apps::interlock::{Command, Interlock, Query};
use rampart_replica::message::{ReplicaId, decode, encode};

use super::describe;
use super::setup::ClientSetup;
use crate::failure::Failure;

/// The first line of a certificate file.
pub const HEADER: &[u8] = b"rampart-certificate-v1\n";

/// Writes `certificate` to `path`, replacing the file whole: it is written beside it and
/// renamed, so a reader never sees half a certificate.
pub fn write(path: &Path, certificate: &Certificate) -> std::io::Result<()> {
    let mut bytes = HEADER.to_vec();
    bytes.extend_from_slice(&encode(certificate));
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, &bytes)?;
    std::fs::rename(&partial, path)
}

/// Reads a certificate file. A file that cannot be read is a usage problem (exit 2); one
/// that is not a certificate proves nothing (exit 1, like one that does not verify).
pub fn read(path: &Path) -> Result<Certificate, Failure> {
    let bytes = std::fs::read(path).map_err(|error| {
        Failure::config(format_args!(
            "cannot read the certificate {}: {error}; check the path",
            path.display()
        ))
    })?;
    let body = bytes.strip_prefix(HEADER).ok_or_else(|| {
        Failure::runtime(format_args!(
            "{} is not a certificate file (it does not start with \"rampart-certificate-v1\"); \
             use a file written by `interlock vote --certificate`",
            path.display()
        ))
    })?;
    decode("certificate", body).map_err(|error| {
        Failure::runtime(format_args!(
            "{} is not a valid certificate: {error}",
            path.display()
        ))
    })
}

/// `interlock verify`: check a certificate offline.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The certificate, as written by `interlock vote --certificate`.
    #[arg(long, value_name = "FILE")]
    pub certificate: PathBuf,
}

/// `interlock verify`: checks the certificate against the cluster file alone and says what
/// it proves.
pub fn verify(setup: &ClientSetup, args: &VerifyArgs) -> Result<Vec<u8>, Failure> {
    let certificate = read(&args.certificate)?;
    let verified = certificate.verify(&setup.spec.cluster).map_err(|error| {
        Failure::runtime(format_args!(
            "{} does not verify against {}: {error}",
            args.certificate.display(),
            setup.cluster_path.display()
        ))
    })?;
    Ok(proven(setup, &certificate, &verified).into_bytes())
}

/// What a verified certificate proves, one fact per line.
fn proven(setup: &ClientSetup, certificate: &Certificate, verified: &VerifiedCommit) -> String {
    let cluster = &setup.spec.cluster;
    let request = &certificate.request.value;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "verified: committed by cluster {} at seq {} in view {}",
        cluster.id, verified.seq.0, verified.view.0
    );
    let _ = writeln!(
        text,
        "commit signers: {} ({} needed)",
        replicas(&verified.signers),
        cluster.quorum()
    );
    let _ = writeln!(
        text,
        "reply signers: {} ({} needed)",
        replicas(&verified.reply_signers),
        cluster.weak_quorum()
    );
    let _ = writeln!(
        text,
        "request: number {} from {}",
        request.number,
        setup.client_name(&request.client)
    );
    match decode::<Operation<Command, Query>>("operation", &request.operation) {
        Ok(Operation::Command(command)) => {
            let _ = writeln!(text, "command: {}", describe::command(&command));
            match decode_output::<Interlock>(&verified.result) {
                Ok(output) => {
                    let _ = writeln!(text, "result:");
                    for line in describe::outcome(setup, &command, &output).lines() {
                        let _ = writeln!(text, "  {line}");
                    }
                }
                Err(error) => {
                    let _ = writeln!(text, "result: {error}");
                }
            }
        }
        Ok(Operation::Query(query)) => {
            let _ = writeln!(text, "query: {query:?}");
        }
        Err(error) => {
            let _ = writeln!(
                text,
                "operation: {} bytes that are not an interlock command ({error})",
                request.operation.len()
            );
        }
    }
    text
}

fn replicas(ids: &[ReplicaId]) -> String {
    let ids: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
    format!("replicas {}", ids.join(", "))
}
