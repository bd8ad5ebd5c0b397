#!/usr/bin/env bash
# Builds the RPM package: target/packages/ece-o365-exporter-<version>-1.<arch>.rpm
#
# Installs cargo-generate-rpm from crates.io when it is missing (unoptimised:
# 7.6 minutes measured on a busy 2-core machine), builds and strips the
# release binary (cargo-generate-rpm packs target/release as it is) and packs
# it with the unit, the sysusers and
# tmpfiles snippets, the default config (%config(noreplace)) and the
# environment file ([package.metadata.generate-rpm] in Cargo.toml).
# Needs no rpmbuild. Prints the path of the .rpm on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_GENERATE_RPM_VERSION=0.21.1
OUT=target/packages

if ! cargo generate-rpm --version >/dev/null 2>&1; then
  echo "build-rpm: installing cargo-generate-rpm $CARGO_GENERATE_RPM_VERSION" >&2
  # A one-shot packaging tool needs no optimisation: --debug builds it in far less
  # time, and the shared --target-dir lets cargo-deb and cargo-generate-rpm reuse
  # the dependencies they have in common.
  cargo install --locked --debug --target-dir "${CARGO_TARGET_DIR:-target}/tools" \
    --version "$CARGO_GENERATE_RPM_VERSION" cargo-generate-rpm >&2
fi

cargo build --release --locked --bin ece-o365-exporter >&2
strip --strip-all target/release/ece-o365-exporter

mkdir -p "$OUT"
version=$(cargo metadata --no-deps --format-version 1 --locked | sed -n 's/.*"name":"ece-o365-exporter","version":"\([^"]*\)".*/\1/p')
arch=$(uname -m)
rpm="$OUT/ece-o365-exporter-${version}-1.${arch}.rpm"
rm -f "$rpm"
# --auto-req builtin: dependencies from ldd, not from /usr/lib/rpm/find-requires,
# so the result is the same on Debian (with or without the rpm package) and on RHEL.
cargo generate-rpm --auto-req builtin --output "$rpm" >&2
[[ -f "$rpm" ]] || { echo "build-rpm: no .rpm produced at $rpm" >&2; exit 1; }
echo "$rpm"
