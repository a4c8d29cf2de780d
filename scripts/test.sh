#!/usr/bin/env bash
# Runs every check and test Flotilla has, after installing what they need.
#
#   bash scripts/test.sh
#
# Steps: install missing tools (Debian packages via apt-get) → cargo fmt
# --check → cargo clippy -D warnings → build all binaries → cargo test for
# the whole workspace (unit tests, the storage conformance suite on every
# backend, and the end-to-end tests that drive the real binaries with the
# real kubectl).
#
# Set CARGO_TARGET_DIR to reuse a build directory (default:
# $HOME/.cache/flotilla-target, outside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

apt_install() {
    local missing=("$@")
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# kubectl drives the end-to-end tests. These machines ship kubectl 1.27-1.33
# (google-cloud-cli); elsewhere Debian's kubernetes-client provides one.
need=()
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
command -v curl >/dev/null 2>&1 || need+=(curl)
apt_install "${need[@]}"

command -v cargo >/dev/null 2>&1 || { echo "cargo is required (a Rust toolchain)" >&2; exit 1; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/flotilla-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log "building binaries for the end-to-end tests"
cargo build --workspace --bins

log "cargo test (workspace)"
cargo test --workspace --no-fail-fast
