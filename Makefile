# The README's two commands: `make run` and `make test`. Everything else is a
# building block of those.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)

.PHONY: run test setup build unit package asan clean

## run: install dependencies, build, and run a single-node kedge server in the foreground
run:
	@scripts/run

## test: install dependencies, build, and run every test (unit, integration, e2e)
test:
	@scripts/test

setup:
	@scripts/setup

build: setup
	@scripts/build $(PRESET)

## unit: only the fast tests, no root needed
unit: build
	ctest --test-dir $(BUILD_DIR) -L unit -j$(JOBS) --output-on-failure

## package: kedge_<version>_<arch>.deb and kedge-<version>.<arch>.rpm into build/packages
package: build
	cpack --config $(BUILD_DIR)/CPackConfig.cmake -B build/packages
	@ls -1 build/packages/*.deb build/packages/*.rpm

## asan: unit and integration tests under AddressSanitizer + UBSan
asan:
	@scripts/setup
	@scripts/build asan
	ctest --test-dir build/asan -L 'unit|integration' -j$(JOBS) --output-on-failure

clean:
	rm -rf build
