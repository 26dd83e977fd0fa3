#!/usr/bin/env bash
# Fetches Prometheus 3 for side-by-side benchmarks: Debian stable (bookworm) packages Prometheus
# 2.42, whose range windows are left-closed, while Narthex follows Prometheus 3 (left-open). Debian
# unstable (sid) packages Prometheus 3; its binary is static Go, so it runs here as it is.
#
# Verifies sid's signed release file with the Debian archive keyring (as apt does), checks the
# package index against it and the `prometheus` package against the index, then unpacks the
# binary to .tools/prometheus3/prometheus.
# Idempotent: does nothing when that binary is already there. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

MIRROR=${DEBIAN_MIRROR:-https://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
DEST=.tools/prometheus3
if [[ -x $DEST/prometheus ]]; then
  "$DEST/prometheus" --version 2>&1 | sed -n 1p
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsS -m 120 "$MIRROR/dists/sid/InRelease" -o "$work/InRelease"
gpgv --quiet --keyring "$KEYRING" --output "$work/Release" "$work/InRelease"
index_sha256=$(awk '/^SHA256:/{s=1; next} /^[^ ]/{s=0} s && $3=="main/binary-amd64/Packages.xz"{print $1}' "$work/Release")
curl -fsS -m 120 "$MIRROR/dists/sid/main/binary-amd64/Packages.xz" -o "$work/Packages.xz"
echo "$index_sha256  $work/Packages.xz" | sha256sum --check --quiet
# The index's stanza for the package named exactly `prometheus`.
xz -dc "$work/Packages.xz" >"$work/Packages"
stanza=$(awk '/^Package: prometheus$/{p=1} p&&/^$/{exit} p' "$work/Packages")
field() { sed -n "s/^$1: //p" <<<"$stanza"; }
version=$(field Version)
filename=$(field Filename)
sha256=$(field SHA256)
if [[ -z $filename || -z $sha256 ]]; then
  echo "prometheus3.sh: no prometheus package in sid's index at $MIRROR" >&2
  exit 1
fi
case $version in
3.*) ;;
*) echo "prometheus3.sh: sid's prometheus is $version, not 3.x" >&2; exit 1 ;;
esac

curl -fsS -m 600 "$MIRROR/$filename" -o "$work/prometheus.deb"
echo "$sha256  $work/prometheus.deb" | sha256sum --check --quiet
dpkg-deb -x "$work/prometheus.deb" "$work/root"
mkdir -p "$DEST"
install -m 0755 "$work/root/usr/bin/prometheus" "$DEST/prometheus"
"$DEST/prometheus" --version 2>&1 | sed -n 1p
