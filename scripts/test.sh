#!/usr/bin/env bash
# The whole test suite, as README and CI run it: system packages first, then
# every unit, integration, property and doc test. Tests that need an SFTP
# server start their own OpenSSH sshd on loopback; none is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo test --all-targets --locked
cargo test --doc --locked
