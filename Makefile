# The two commands of the README: `make demo` runs the main job, `make test`
# runs every test. Both install the Debian packages they need first.
GO       ?= go
# A count, not a duration: duration-based -fuzztime races Go's fuzz
# coordinator at the deadline (golang/go#75804, fixed only in Go 1.27) and
# fails a healthy target with "context deadline exceeded".
FUZZTIME ?= 20000x

.PHONY: all deps build demo test unit fuzz bench vet

all: build

deps:
	bash scripts/install-deps.sh

build:
	$(GO) build ./...

demo: deps
	$(GO) run ./cmd/gsskit demo
	$(GO) run ./cmd/gsskit kafka-gateway --demo

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 25m ./...
	# The zmq4 adapter is its own module so gsskit never depends on zmq4;
	# ./... does not reach into it.
	cd zmtp/zmq4gss && $(GO) test -count=1 -timeout 5m ./...

fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

test: deps vet unit fuzz

bench: deps
	bash bench/run.sh
