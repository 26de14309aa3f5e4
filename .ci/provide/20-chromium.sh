#!/usr/bin/env bash
# Debian's chromium and NSS's certutil (libnss3-tools), for the real-browser tests
# (tests/test_browser_*.py, examples/webpush): installed from Debian when missing.
# No browser is ever downloaded from anywhere else.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "20-chromium: missing ${missing[*]}: install them (apt-get install -y ${missing[*]})" >&2
        exit 1
    fi
    echo "20-chromium: apt-get install -y ${missing[*]}"
    if ! apt-get install -y -q "${missing[@]}" >/dev/null; then
        apt-get update -q >/dev/null
        apt-get install -y -q "${missing[@]}" >/dev/null
    fi
fi
version=$(chromium --version 2>/dev/null) || { echo "20-chromium: chromium does not start" >&2; exit 1; }
echo "20-chromium: $version, $(command -v certutil)"
