# The README's two commands: `make demo` and `make test`. Both install missing system
# packages first (scripts/install-deps), so they work on a fresh machine.
.PHONY: deps demo test lint bench fuzz image cluster-test

deps:
	@./scripts/install-deps

demo: deps
	cargo run --release -p rampart-deploy --bin rampart -- demo

test: deps
	cargo nextest run --workspace --no-fail-fast
	cargo test --workspace --doc

lint: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

bench: deps
	cargo run --release -p rampart-deploy --bin rampart -- bench

# Runs every fuzz target with libFuzzer for FUZZ_SECONDS (default 60) each, on nightly, and
# merges new inputs into tests/fuzz/corpus (replayed by `make test`). See scripts/fuzz.
fuzz: deps
	./scripts/fuzz

# The rampart:latest container image, with no registry: the release binary built here, the
# shared libraries it loads and a minimal /etc/passwd, FROM scratch (scripts/image).
image: deps
	./scripts/image

# Four replicas in containers (deploy/compose.yaml) under real faults (SIGKILL, pause,
# network cut, wiped volume), a client workload from this host, and the checks: nothing
# acknowledged lost, the replicas agree, the history is linearizable. Needs Docker.
cluster-test: image
	cargo build --release -p rampart-deploy --bin cluster-test
	./target/release/cluster-test
