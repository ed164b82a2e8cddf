#!/usr/bin/env bash
# Store a real `ktiw verify --preset quick` run for the docs' "Verifying" page.
#
#   bash docs/scripts/quick_verify.sh            # from the repository root, venv active
#
# Runs the quick preset into a temporary directory, then copies verdicts.json and
# the PNG figures (each at most MAX_PNG_KB, so the repository stays small) into
# docs/data/quick/, with provenance.json (command, exit code, wall time, git commit, date).
# Exit code 1 from `ktiw verify` means a prediction was refuted: that is a result, and is
# stored like any other.
set -uo pipefail
cd "$(dirname "$0")/../.."
MAX_PNG_KB=${MAX_PNG_KB:-200}
DEST=docs/data/quick
RUN=$(mktemp -d)
CMD=(ktiw verify --preset quick --out "$RUN/out")
# the tree's state when the run starts (before this script rewrites docs/data/quick)
DIRTY=$( [ -n "$(git status --porcelain --untracked-files=no -- . ':!docs/data/quick' 2>/dev/null)" ] && echo true || echo false )
start=$(date +%s)
"${CMD[@]}"
rc=$?
wall=$(( $(date +%s) - start ))
if [ "$rc" -ge 2 ] || [ ! -f "$RUN/out/verdicts.json" ]; then
    echo "ktiw verify failed (exit $rc) or wrote no verdicts.json; nothing stored" >&2
    exit 1
fi
rm -rf "$DEST" && mkdir -p "$DEST"
cp "$RUN/out/verdicts.json" "$DEST/"
find "$RUN/out" -maxdepth 2 -name '*.png' -size -"${MAX_PNG_KB}"k -exec cp {} "$DEST/" \;
skipped=$(find "$RUN/out" -maxdepth 2 -name '*.png' -size +"$((MAX_PNG_KB - 1))"k -printf '%f ')
cat > "$DEST/provenance.json" <<JSON
{"command": "${CMD[*]:0:4}", "exit_code": $rc, "wall_seconds": $wall,
 "git_commit": "$(git rev-parse HEAD 2>/dev/null)", "dirty": $DIRTY,
 "date_utc": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "python": "$(python -c 'import platform; print(platform.python_version())')",
 "torch": "$(python -c 'import torch; print(torch.__version__)')", "pngs_left_out_over_${MAX_PNG_KB}kB": "$skipped"}
JSON
rm -rf "$RUN"
echo "stored in $DEST (ktiw verify exit $rc, ${wall}s):"; ls -la "$DEST"
