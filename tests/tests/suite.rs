//! Rampart's integration tests, as one test binary: one module per file beside this one.
//! One binary links the dependency graph once instead of once per file. nextest still
//! runs every test in its own process, so the tests stay as isolated as before; filter by
//! module to run one file's tests, e.g. `cargo nextest run -p rampart-testkit n4f1::`.

mod actuator;
mod attacks;
mod campaign;
mod durability;
mod ed25519;
mod harness;
mod interlock_campaign;
mod large_operations;
mod memory;
mod n4f1;
mod n7f2;
mod real_cluster;
mod smoke;
mod transfer;
mod user_application;
