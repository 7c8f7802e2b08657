# Vigía — edge-first traffic enforcement. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VIGIA_CACHE ?= $(HOME)/.cache/vigia
export VIGIA_CACHE
export ORT_LIBRARY ?= $(VIGIA_CACHE)/lib/libonnxruntime.so.1
export MINIO_BINARY ?= $(VIGIA_CACHE)/bin/minio
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/vigia-pe/vigia/shared/buildinfo.Version=$(VERSION) -X github.com/vigia-pe/vigia/shared/buildinfo.Commit=$(COMMIT) -X github.com/vigia-pe/vigia/shared/buildinfo.Date=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)
TEST_TIMEOUT ?= 20m
FUZZTIME ?= 15s

.PHONY: help setup build test test-short bench demo lint fuzz clean

help: ## Show this help
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install what a fresh Debian 12 lacks (apt, ONNX Runtime, MinIO, PostGIS) and start PostgreSQL + Mosquitto (idempotent)
	@bash scripts/setup.sh

build: ## Build bin/agent and bin/hub
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/agent ./agent
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/hub ./hub

test: setup ## Run every test (unit, real services, end to end) with the race detector
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short: ## Unit tests only, without set-up
	$(GO) test -short -count=1 ./...

bench: setup ## Run the benchmarks (per-stage latency, throughput) with allocations
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./...

demo: setup build ## The main job: hub + agent on real footage with real models (see README)
	@bash scripts/demo.sh

lint: ## gofmt, go vet and staticcheck (pinned by make setup)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@test -x $(VIGIA_CACHE)/bin/staticcheck || bash scripts/setup.sh
	$(VIGIA_CACHE)/bin/staticcheck ./...

fuzz: ## Run each fuzz target for FUZZTIME (default 15s)
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

clean: ## Remove build outputs
	rm -rf bin demo-out
