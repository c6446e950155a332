#!/usr/bin/env bash
# Installs the optional system tools xlt's tests use when they are missing: apertium + apertium-eng-spa
# (offline en<->es MT for the `apertium` provider) and cmake + g++ (to build fast_align from source).
# Needs root and apt; elsewhere it says what it skipped, and the tests that need these tools skip.
set -euo pipefail
need=()
command -v apertium >/dev/null || need+=(apertium apertium-eng-spa)
[ -d /usr/share/apertium/apertium-eng-spa ] || need+=(apertium-eng-spa)
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
if [ ${#need[@]} -eq 0 ]; then echo "system packages: all present"; exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "system packages: not root or no apt-get; skipping ${need[*]} (tests needing them will skip)"
  exit 0
fi
echo "system packages: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
