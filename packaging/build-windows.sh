#!/usr/bin/env bash
# Cross-builds the Windows binary on Debian with mingw-w64:
#   target/x86_64-pc-windows-gnu/<profile>/ece-o365-exporter.exe
# and prints its path on the last line.
#
# Needs the Rust target (added here with rustup when missing) and the
# mingw-w64 C toolchain for ring and the final link (Debian package
# gcc-mingw-w64-x86-64-posix; scripts/install-test-peers.sh installs it).
# PROFILE=release by default (what the MSI ships and scripts/test tests);
# PROFILE=dev for a quicker unoptimised build.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
PROFILE=${PROFILE:-release}

if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  echo "build-windows: x86_64-w64-mingw32-gcc is missing: apt install gcc-mingw-w64-x86-64-posix" >&2
  exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "build-windows: adding the Rust target $TARGET" >&2
  rustup target add "$TARGET" >&2
fi

cargo build --locked --profile "$PROFILE" --target "$TARGET" >&2
dir=$PROFILE
[[ "$PROFILE" == dev ]] && dir=debug
exe="${CARGO_TARGET_DIR:-target}/$TARGET/$dir/ece-o365-exporter.exe"
[[ -f "$exe" ]] || { echo "build-windows: $exe was not built" >&2; exit 1; }
echo "$exe"
