#!/usr/bin/env bash
# The npm packages examples/firebase-web pins in its package.json (firebase, esbuild),
# into $PULLKIN_CI_TMP/node/firebase-web/node_modules, where
# tests/test_browser_firebase.py finds them.  Nothing is installed into the repository.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v npm >/dev/null 2>&1; then
    echo "30-firebase-web: npm is missing (Debian: apt-get install -y npm, or Node.js from nodejs.org)" >&2
    exit 1
fi
prefix="$PULLKIN_CI_TMP/node/firebase-web"
mkdir -p "$prefix"
cp examples/firebase-web/package.json "$prefix/package.json"
npm install --no-audit --no-fund --silent --prefix "$prefix"
test -x "$prefix/node_modules/.bin/esbuild"
echo "30-firebase-web: $(node -p "require('$prefix/node_modules/firebase/package.json').version") and esbuild $("$prefix/node_modules/.bin/esbuild" --version) in $prefix"
