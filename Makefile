# Nexuma — one command to run the Core, one to test everything.
#   make run    build the components and the host, serve on $PORT (3000) with the embedded stores
#   make test   build everything and run every test (needs PostgreSQL and Redis on 127.0.0.1)
#   make bench  measure throughput and latency, write BENCHMARKS.md

SHELL := /bin/bash
WASM_TARGET := wasm32-wasip2
WASM_OUT := handlers/target/$(WASM_TARGET)/release
# The components' pure parts (calendar arithmetic, parsing) are unit-tested natively.
HOST_TARGET := $(shell rustc -vV | sed -n 's/^host: //p')
# Components an operator runs; test-only components stay out of ./components.
COMPONENTS := auth manager console billing nodes subscriptions usage notify
TEST_COMPONENTS := probe overlap versioned versioned_next versioned_trap schema schema_next schema_broken legacy legacy_011 legacy_012 future

.PHONY: run test deploy-check bench bench-scale handlers handlers-unit handlers-doc toolchain lint fmt clean v2ray chromium apitest-tools fuzz cargo-fuzz

toolchain:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

handlers: toolchain
	cd handlers && cargo build --release --locked
	@mkdir -p components
	@for c in $(COMPONENTS); do cp $(WASM_OUT)/$$c.wasm components/$$c.wasm; done
	@echo "components: $(COMPONENTS) -> ./components"
	$(MAKE) -C examples/component-template

run: handlers
	cargo build --release --locked -p nexuma-host
	./target/release/nexuma serve

# The node agent's tests run the real proxy core: Debian's v2ray 4.34.
v2ray:
	command -v v2ray >/dev/null || (apt-get update && apt-get install -y v2ray)

# Page tests drive headless Chromium: screenshots with `chromium` itself (common/browser.rs),
# forms and clicks over WebDriver with `chromedriver` (common/webdriver.rs).
chromium:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  || (apt-get update && apt-get install -y chromium chromium-driver)

# The API fuzz test (host/tests/api_fuzz.rs) runs Schemathesis over /openapi.json and checks the
# document with openapi-spec-validator; the client test (host/tests/api_client.rs) generates a
# Python client from it with openapi-python-client. All pinned, in a venv of their own under
# target/.
APITEST_VENV := target/apitest-venv
SCHEMATHESIS_VERSION := 4.32.5
OPENAPI_SPEC_VALIDATOR_VERSION := 0.9.0
OPENAPI_PYTHON_CLIENT_VERSION := 0.29.1
apitest-tools:
	@$(APITEST_VENV)/bin/schemathesis --version 2>/dev/null | grep -q ' $(SCHEMATHESIS_VERSION)$$' \
	  && $(APITEST_VENV)/bin/pip show openapi-spec-validator 2>/dev/null | grep -qx 'Version: $(OPENAPI_SPEC_VALIDATOR_VERSION)' \
	  && $(APITEST_VENV)/bin/pip show openapi-python-client 2>/dev/null | grep -qx 'Version: $(OPENAPI_PYTHON_CLIENT_VERSION)' \
	  || (python3 -m venv $(APITEST_VENV) \
	      && $(APITEST_VENV)/bin/pip install --quiet schemathesis==$(SCHEMATHESIS_VERSION) \
	           openapi-spec-validator==$(OPENAPI_SPEC_VALIDATOR_VERSION) \
	           openapi-python-client==$(OPENAPI_PYTHON_CLIENT_VERSION))

handlers-unit: handlers-doc
	cd handlers && cargo test --locked --target $(HOST_TARGET) --workspace --lib

# The SDK's doc examples compile (`no_run`: the imports they call exist only in the host).
handlers-doc:
	cd handlers && cargo test --locked --target $(HOST_TARGET) -p nexuma-sdk --doc

# Fuzzing (fuzz/README.md): every target for FUZZ_SECONDS (20) from the committed corpus; a
# crash or a broken property fails the run. cargo-fuzz's flags are nightly ones: the stable
# toolchain takes them with RUSTC_BOOTSTRAP=1, the address sanitizer included.
cargo-fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

fuzz: cargo-fuzz
	.ci/fuzz

test: handlers v2ray chromium apitest-tools handlers-unit fuzz
	cargo test --workspace --locked -- --test-threads=4
	.ci/deploy-check

# Compose files, variable names, systemd units, install.sh into a temporary root (uses the
# binaries `cargo test` built under target/debug).
deploy-check:
	cargo build --locked -p nexuma-host -p nexuma-node
	.ci/deploy-check

# Core figures first (the file is rewritten), then the node agent's section is appended.
# To compare two builds with the same measuring code, point the bench at another checkout's
# release build and components, and write elsewhere:
#   NEXUMA_BENCH_CORE=/path/to/other NEXUMA_BENCH_OUT=/tmp/other.md ./target/release/nexuma-bench
bench: handlers v2ray
	cargo build --release --locked -p nexuma-host -p nexuma-bench -p nexuma-node
	./target/release/nexuma-bench
	./target/release/nexuma-node-bench >> BENCHMARKS.md

# The scaling curve (10,000, 100,000 and 1,000,000 users on PostgreSQL, bench/src/scale.rs),
# apart from `make bench` as it takes about 8 minutes on a 2-vCPU VM (3 of them seeding the
# million): it replaces only the scale section of BENCHMARKS.md, which `make bench` keeps.
bench-scale: handlers
	cargo build --release --locked -p nexuma-host -p nexuma-bench
	./target/release/nexuma-bench --scale

lint: toolchain
	cargo fmt --all -- --check
	cd handlers && cargo fmt --all -- --check
	cd fuzz && cargo fmt -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cd handlers && cargo clippy --release --locked -- -D warnings
	cd handlers && RUSTDOCFLAGS="-D warnings" cargo doc --release --locked --no-deps -p nexuma-sdk
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo clippy --locked --all-targets -- -D warnings

fmt:
	cargo fmt --all
	cd handlers && cargo fmt --all
	cd fuzz && cargo fmt

clean:
	cargo clean
	cd handlers && cargo clean
	rm -rf components
