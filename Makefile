# cairn: the two commands a newcomer needs.
#   make run   install missing Debian packages, build, start the agent
#   make test  the same set-up, then every test (sanitizer build)
# The real build is CMake; this file only wraps it.

BUILD      ?= build
TEST_BUILD ?= build-test
FUZZ_BUILD ?= build-fuzz
LISTEN     ?= 127.0.0.1:9100
DATA       ?= ./data
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 30
ARGS       ?=

# Debian packages needed to build, test and compare against the real peers.
DEB_PACKAGES := build-essential cmake pkg-config clang clang-format libclang-rt-14-dev \
	libmicrohttpd-dev libyaml-dev zlib1g-dev libpcre2-dev libjansson-dev libcriterion-dev \
	libcurl4-openssl-dev libsqlite3-dev sqlite3 libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler \
	python3-grpcio python3-protobuf prometheus prometheus-node-exporter curl jq python3 wrk procps \
	systemd man-db

# ... and to build and check the DEB and RPM packages (make package, package-test).
PKG_PACKAGES := dpkg-dev fakeroot rpm rpmlint lintian debootstrap

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps deps-package build run test fuzz format format-check package package-test bench bench-tsdb bench-promql bench-plugins bench-events clean

all: build

deps:
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(DEB_PACKAGES)"

deps-package: deps
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(PKG_PACKAGES)"

install-missing:
	@missing=$$(for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_TESTS=OFF
	cmake --build $(BUILD) -j $(JOBS)

run: build
	mkdir -p $(DATA)
	./$(BUILD)/cairn agent --web.listen-address=$(LISTEN) --storage.tsdb.path=$(DATA) $(ARGS)

test: deps
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON -DCAIRN_WERROR=ON
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure

# cairn_VERSION_ARCH.deb, cairn-VERSION-1.ARCH.rpm and the plugin SDK's
# packages, in dist/ (packaging/build-packages.sh).
package: deps-package
	bash packaging/build-packages.sh --out dist

# Builds the packages, lints them, and installs, upgrades and purges them in a
# fresh Debian 12 root (needs root; tests/packaging/package_test.sh).
package-test: deps-package
	$(SUDO) bash tests/packaging/package_test.sh

# libFuzzer targets, each for a bounded time, seeds from tests/fuzz/corpus/<name>.
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCAIRN_FUZZ=ON -DCAIRN_TESTS=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	@for f in $(FUZZ_BUILD)/tests/*_fuzz; do \
		name=$$(basename $$f _fuzz); corpus=$$(mktemp -d); \
		cp -r tests/fuzz/corpus/$$name/. $$corpus/ 2>/dev/null; \
		echo "fuzzing $$name for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 $$corpus >$$corpus.log 2>&1; rc=$$?; \
		tail -3 $$corpus.log; rm -rf $$corpus $$corpus.log; \
		[ $$rc -eq 0 ] || { echo "fuzzer $$name failed"; exit 1; }; \
	done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

bench: build
	bash bench/node_exporter_compare.sh ./$(BUILD)/cairn

bench-tsdb: build
	bash bench/tsdb_compare.sh ./$(BUILD)

bench-events: build
	cmake --build $(BUILD) --target bench_events
	./$(BUILD)/bench_events

bench-plugins: build
	cmake --build $(BUILD) --target bench_plugin_rtt bench_series_plugin
	for n in 1000 10000; do BENCH_SERIES=$$n ./$(BUILD)/bench_plugin_rtt ./$(BUILD)/bench_series_plugin 1000; done
	bash bench/plugin_overhead.sh ./$(BUILD)

bench-promql: build
	cmake --build $(BUILD) --target bench_promql_data
	bash bench/promql_compare.sh ./$(BUILD)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD) build-pkg dist
