#!/usr/bin/env bash
# Builds the Windows installer: target/packages/ece-o365-exporter-<version>-x64.msi
# from packaging/windows/ece-o365-exporter.wxs with wixl (Debian package
# wixl, from msitools) and prints its path on the last line.
#
# The .exe is $ECE_O365_EXE when set, else packaging/build-windows.sh builds it.
# wixl has no NeverOverwrite/Permanent component attributes, so the
# Component table is patched afterwards with msibuild (package msitools):
#   Config  = 64-bit | Permanent | NeverOverwrite (256+16+128): an existing
#             config.yaml is never replaced, and removal (including the
#             removal half of a major upgrade) leaves it in place;
#   Tokens  = 64-bit | Permanent (256+16): token stores survive removal.
# and wixl writes Type="expandable" registry values as plain strings, so the
# event source's EventMessageFile gets the Registry table's "#%" prefix of
# REG_EXPAND_SZ here, followed by the value "%SystemRoot%\System32\EventCreate.exe"
# itself (hence "#%%"), which the Event Log expands.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in wixl msibuild; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-msi: $tool is missing: apt install wixl msitools" >&2; exit 1; }
done

exe=${ECE_O365_EXE:-$(packaging/build-windows.sh | tail -n 1)}
version=$(cargo metadata --no-deps --format-version 1 --locked | sed -n 's/.*"name":"ece-o365-exporter","version":"\([^"]*\)".*/\1/p')
out=target/packages
stage=$out/msi-stage
msi="$out/ece-o365-exporter-$version-x64.msi"

rm -rf "$stage" && mkdir -p "$stage"
cp "$exe" "$stage/ece-o365-exporter.exe"
# The example config is the default one, as in the Linux packages.
cp config.example.yaml "$stage/config.yaml"
# wixl resolves File/@Source against the directory it runs in.
(cd "$stage" && wixl --arch x64 --define "Version=$version" --output ../"$(basename "$msi")" \
  "$OLDPWD/packaging/windows/ece-o365-exporter.wxs") >&2
msibuild "$msi" \
  -q "UPDATE Component SET Attributes = 400 WHERE Component = 'Config'" \
  -q "UPDATE Component SET Attributes = 272 WHERE Component = 'Tokens'" \
  -q "UPDATE Registry SET Value = '#%%SystemRoot%\\System32\\EventCreate.exe' WHERE Name = 'EventMessageFile'"
rm -rf "$stage"
echo "$msi"
