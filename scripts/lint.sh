#!/usr/bin/env bash
# gofmt and go vet over every tracked Go file; fails on the first problem found.
set -euo pipefail
unformatted=$(gofmt -l $(git ls-files '*.go') 2>&1 || true)
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:"
  echo "$unformatted"
  exit 1
fi
go vet ./...
