# The two commands a newcomer needs: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/.tools/node_modules/.bin:$(PATH)

.PHONY: setup ui build run test lint fuzz

setup:
	@bash scripts/setup.sh

# The web UI, built with Trunk into dist/, which the server embeds.
ui: setup
	trunk build --release --offline

# target/release/narthex, one self-contained file with the UI inside. Built through
# `cargo test --no-run` on purpose: the binary and the tests then share one feature resolution,
# so RocksDB's C++ (whose build script is rebuilt whenever bindgen's features change) is
# compiled once, not once for the binary and again for the tests.
build: ui
	cargo test --release --workspace --no-run

# Everything in one process on :9090, scraping itself.
run: build
	./target/release/narthex

# Formatting, every Rust test (release profile: RocksDB's C++ is built once for the binary and
# the tests), then the end-to-end suite in Debian's chromium against the real binary.
test: build
	cargo fmt --all -- --check
	cargo test --release --workspace
	cd end2end && NARTHEX_BIN=$(CURDIR)/target/release/narthex npm test

lint: setup
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings

# Fuzzes the PromQL parser and printer for FUZZ_SECONDS (cargo fuzz, libFuzzer; see fuzz/). The
# stable toolchain runs it with RUSTC_BOOTSTRAP=1, which lets it take cargo fuzz's nightly flags.
# A failure is saved in fuzz/artifacts/promql_parser/; once fixed, copy it into
# crates/promql/tests/fuzz-regressions/ so that `cargo test` keeps checking it.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run promql_parser -- \
		-max_total_time=$(FUZZ_SECONDS) -max_len=512 -timeout=10 -print_final_stats=1
