#!/usr/bin/env bash
# Builds the Debian package: target/packages/ece-o365-exporter_<version>-1_<arch>.deb
#
# Installs cargo-deb from crates.io when it is missing (about 2 minutes on
# 2 cores, unoptimised), builds the release binary and packs it with the unit, the default
# config and the environment file ([package.metadata.deb] in Cargo.toml).
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
OUT=target/packages

if ! cargo deb --version >/dev/null 2>&1; then
  echo "build-deb: installing cargo-deb $CARGO_DEB_VERSION" >&2
  # A one-shot packaging tool needs no optimisation: --debug builds it in far less
  # time, and the shared --target-dir lets cargo-deb and cargo-generate-rpm reuse
  # the dependencies they have in common.
  cargo install --locked --debug --target-dir "${CARGO_TARGET_DIR:-target}/tools" \
    --version "$CARGO_DEB_VERSION" cargo-deb >&2
fi

mkdir -p "$OUT"
# cargo-deb runs `cargo build --release` itself and strips the binary it packs.
deb=$(cargo deb --locked --output "$OUT/" | tail -n 1)
# cargo-deb prints the path it wrote; fall back to the expected name.
if [[ ! -f "$deb" ]]; then
  version=$(cargo metadata --no-deps --format-version 1 --locked | sed -n 's/.*"name":"ece-o365-exporter","version":"\([^"]*\)".*/\1/p')
  deb="$OUT/ece-o365-exporter_${version}-1_$(dpkg --print-architecture).deb"
fi
[[ -f "$deb" ]] || { echo "build-deb: no .deb produced in $OUT" >&2; exit 1; }
echo "$deb"
