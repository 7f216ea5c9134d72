# Thin wrapper over CMake. `make run` and `make test` install what is missing first (scripts/deps.sh).
BUILD      ?= build
TEST_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
DATA_DIR   ?= ./data
JOBS       ?= $(shell nproc)

.PHONY: all deps build run demo test test-deploy unit integration fuzz bench bench-devices bench-jobs bench-dashboard clean format

all: build

deps:
	@scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DDH_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/run.sh $(BUILD)/devicehubd $(DATA_DIR)

# devicehubd plus 1,000 simulated devices (devicehub-sim --create); Ctrl-C stops both. DEMO_DIR keeps the
# data (default: a temporary directory), DEMO_DEVICES changes the count.
demo: build
	@scripts/demo.sh $(BUILD)

# Everything under AddressSanitizer + UndefinedBehaviorSanitizer: unit tests, fuzz replays, then the
# integration suite against a real devicehubd, plus the release build the benchmarks use.
test: deps build
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDH_SANITIZE=ON >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)
	DEVICEHUB_BIN=$(CURDIR)/$(TEST_BUILD)/devicehubd node --test --test-concurrency=1 tests/integration/

# The container image (deploy/Dockerfile) built with podman, run on loopback and talked to: health, REST,
# devices, non-root, restart with its volume, TLS (docs/deploy.md). Root or sudo; ~1 min, plus ~1 min the
# first time for the bookworm base image, which it keeps. Everything else it makes is removed.
test-deploy:
	tests/deploy/run.sh

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DDH_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	scripts/fuzz.sh $(FUZZ_BUILD) $${FUZZ_SECONDS:-60}

bench: build
	bench/run.sh $(BUILD)/devicehubd
	bench/devices.sh $(BUILD)/devicehubd $(BUILD)/devicehub-sim
	bench/jobs.sh $(BUILD)/devicehubd
	bench/dashboard.sh $(BUILD)/devicehubd

# The device channel only (~2 min): 10,000 devices, direct methods, reported patches (docs/performance.md).
bench-devices: build
	bench/devices.sh $(BUILD)/devicehubd $(BUILD)/devicehub-sim

# The job engine only (~3 min): a method job to 10,000 connected devices, a twin job to 100,000 (docs/performance.md).
bench-jobs: build
	bench/jobs.sh $(BUILD)/devicehubd

# The dashboard only (~2 min): first pages ready in Chromium, empty and with 1,000,000 devices (docs/performance.md).
bench-dashboard: build
	bench/dashboard.sh $(BUILD)/devicehubd

format:
	clang-format -i server/*.c server/*.h device-sim/*.c device-sim/*.h tests/unit/*.c tests/fuzz/*.c

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD)
