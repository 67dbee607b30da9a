# make install builds mamori and mamori-agent into $(PREFIX)/bin
# (/usr/local/bin): on the PATH that sudo keeps, and a lasting place for
# the paths the OCI hook and the PAM line name. mamori is the whole
# platform; mamori-agent is the lean node agent (the same source built
# with -tags agentonly: `mamori agent` without the console, the scanners
# and the web assets). Both are stamped with their version, commit and
# commit date (mamori version). They are linked statically
# (CGO_ENABLED=0), as in the container images: nothing in them needs cgo,
# and the C library and its loader add about 2 MiB to the agent's
# resident set.
PREFIX ?= /usr/local
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
DATE := $(shell git log -1 --format=%cI 2>/dev/null)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

build mamori-agent install: export CGO_ENABLED = 0

.PHONY: build mamori-agent install test fuzz

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o mamori ./cmd/mamori
	$(GO) build -tags agentonly -ldflags "$(LDFLAGS)" -o mamori-agent ./cmd/mamori

mamori-agent:
	$(GO) build -tags agentonly -ldflags "$(LDFLAGS)" -o mamori-agent ./cmd/mamori

install:
	mkdir -p $(DESTDIR)$(PREFIX)/bin
	$(GO) build -ldflags "$(LDFLAGS)" -o $(DESTDIR)$(PREFIX)/bin/mamori ./cmd/mamori
	$(GO) build -tags agentonly -ldflags "$(LDFLAGS)" -o $(DESTDIR)$(PREFIX)/bin/mamori-agent ./cmd/mamori

test:
	scripts/test.sh

fuzz:
	scripts/fuzz.sh $(or $(FUZZTIME),30)
