# The two commands of the README: `make demo` runs the main job, `make test`
# runs every test. Both install the Debian packages they need first.
GO       ?= go
FUZZTIME ?= 4s

.PHONY: all deps build demo test unit fuzz bench vet

all: build

deps:
	bash scripts/install-deps.sh

build:
	$(GO) build ./...

demo: deps
	$(GO) run ./cmd/gsskit demo

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 25m ./...

fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

test: deps vet unit fuzz

bench: deps
	bash bench/run.sh
