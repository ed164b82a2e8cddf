#!/usr/bin/env bash
# Store a real `ktiw verify --preset PRESET` run (copy experiment) for the docs' "Verifying" page.
#
#   bash docs/scripts/store_verify.sh [PRESET] [RUNS_DIR] [-- VERIFY ARGS...]   # from the repository root
#
# VERIFY ARGS (after --) go to `ktiw verify` as they are, e.g. `-- --model transformer SPEC ...
# --set d_model=64`; the environment variable NAME (default PRESET) names the folder.
#
# PRESET: quick (default) or paper.  Runs the preset into RUNS_DIR (default: a temporary
# directory, removed afterwards; give one to keep the run directories, and to resume an
# interrupted run: `ktiw verify` reuses finished runs and resumes the others), then copies
# verdicts.json, report.md and the PNG figures (each at most MAX_PNG_KB, so the repository
# stays small) into docs/data/PRESET/, with provenance.json (command, exit code, wall time,
# git commit, machine load, date).
# Exit code 1 from `ktiw verify` means a prediction was refuted: that is a result, and is
# stored like any other.
set -uo pipefail
cd "$(dirname "$0")/../.."
MAX_PNG_KB=${MAX_PNG_KB:-200}
PRESET=${1:-quick}
DEST=docs/data/${NAME:-$PRESET}
if [ -n "${2:-}" ] && [ "${2:-}" != "--" ]; then RUN=$2; KEEP=1; mkdir -p "$RUN"; else RUN=$(mktemp -d); KEEP=0; fi
EXTRA=()
for ((i = 1; i <= $#; i++)); do
    if [ "${!i}" = "--" ]; then EXTRA=("${@:i+1}"); break; fi
done
CMD=(ktiw verify --preset "$PRESET" "${EXTRA[@]}" --out "$RUN/out")
SHOWN="ktiw verify --preset $PRESET${EXTRA[*]:+ ${EXTRA[*]}}"
# the tree's state when the run starts (before this script rewrites docs/data/PRESET)
DIRTY=$( [ -n "$(git status --porcelain --untracked-files=no -- . ":!$DEST" 2>/dev/null)" ] && echo true || echo false )
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
( while sleep 60; do cut -d' ' -f1 /proc/loadavg; done ) > "$RUN/load.txt" &
SAMPLER=$!
"${CMD[@]}"
rc=$?
wall=$(( $(date +%s) - start ))
kill "$SAMPLER" 2>/dev/null
LOAD_DURING=$(awk '{s+=$1; if ($1>m) m=$1} END {if (NR) printf "mean %.2f, max %.2f over %d minutes", s/NR, m, NR; else print "n/a"}' "$RUN/load.txt")
if [ "$rc" -ge 2 ] || [ ! -f "$RUN/out/verdicts.json" ]; then
    echo "ktiw verify failed (exit $rc) or wrote no verdicts.json; nothing stored" >&2
    exit 1
fi
rm -rf "$DEST" && mkdir -p "$DEST"
cp "$RUN/out/verdicts.json" "$DEST/"
[ -f "$RUN/out/report.md" ] && cp "$RUN/out/report.md" "$DEST/"
find "$RUN/out" -maxdepth 2 -name '*.png' -size -"${MAX_PNG_KB}"k -exec cp {} "$DEST/" \;
skipped=$(find "$RUN/out" -maxdepth 2 -name '*.png' -size +"$((MAX_PNG_KB - 1))"k -printf '%f ')
cat > "$DEST/provenance.json" <<JSON
{"command": "$SHOWN", "exit_code": $rc, "wall_seconds": $wall,
 "load_average_before": "$LOAD_BEFORE", "load_1min_during": "$LOAD_DURING", "load_average_after": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "cpus": $(nproc --all),
 "git_commit": "$(git rev-parse HEAD 2>/dev/null)", "dirty": $DIRTY,
 "date_utc": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "python": "$(python -c 'import platform; print(platform.python_version())')",
 "torch": "$(python -c 'import torch; print(torch.__version__)')", "pngs_left_out_over_${MAX_PNG_KB}kB": "$skipped"}
JSON
[ "$KEEP" = 1 ] || rm -rf "$RUN"
echo "stored in $DEST (ktiw verify exit $rc, ${wall}s):"; ls -la "$DEST"
