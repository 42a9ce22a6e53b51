# The README's two commands: `make demo` and `make test`. Both install missing system
# packages first (scripts/install-deps), so they work on a fresh machine.
.PHONY: deps demo test lint bench

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
