#!/usr/bin/env bash
# Side-by-side benchmark of ttpmap's detection engine against sigma-go.
#
#   bash bench/peer.sh RULES_DIR EVENTS_PATH [-- peer flags]
#   e.g. bash bench/peer.sh ../shared/datasets/sigma/rules/windows ../shared/datasets/evtx-attack-samples
#
# Builds and runs bench/cmd/peer (a separate Go module, so sigma-go never
# enters the ttpmap binary). Extra arguments after the two paths are passed
# to the command as flags (see `go run ./cmd/peer -h` inside bench/).
set -euo pipefail
if [ "$#" -lt 2 ]; then
	echo "usage: bash bench/peer.sh RULES_DIR EVENTS_PATH [peer flags]" >&2
	exit 2
fi
rules=$(realpath -- "$1")
events=$(realpath -- "$2")
shift 2
cd "$(dirname -- "${BASH_SOURCE[0]}")"
exec go run ./cmd/peer "$@" "$rules" "$events"
