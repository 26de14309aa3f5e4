#!/usr/bin/env bash
# npm firebase-admin (13.x) for tests/test_emulator_node.py: a Node backend's default
# sendEach() (HTTP/2) through the emulator.  Installed from npm into
# $PULLKIN_CI_TMP/node/firebase-admin/ (removed after the run).
set -euo pipefail

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "30-node-firebase-admin: node and npm are missing: install them (apt-get install -y nodejs npm)" >&2
    exit 1
fi
dir="$PULLKIN_CI_TMP/node/firebase-admin"
mkdir -p "$dir"
cd "$dir"
printf '{"name": "pullkin-ci-firebase-admin", "private": true}\n' > package.json
npm install --no-audit --no-fund --loglevel=error firebase-admin@13 >/dev/null
version=$(node -p "require('./node_modules/firebase-admin/package.json').version")
echo "30-node-firebase-admin: firebase-admin $version on node $(node --version)"
