#!/usr/bin/env bash
# Run the README's two set-up commands exactly as written, each in a fresh virtual environment on
# a fresh clone, and store what they took for the docs' Benchmarks and Quickstart pages.
#
#   bash docs/scripts/measure_setup.sh [REPO]      # from anywhere; REPO: what to clone (default: this one)
#
# Writes docs/data/setup_timings.txt: per command its wall time, exit code, the machine's load
# average before and after, and the last line it printed (for the tests: the pytest summary with
# the number of tests); then the clone's git commit, the date, the CPU count and Python.
# Nothing here is typed in by hand: every figure on those pages comes from this run.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=${1:-$ROOT}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
git clone -q "$SRC" "$WORK/clone" || exit 1
cd "$WORK/clone"
mapfile -t COMMANDS < <(python3 - <<'PY'
import re
text = open("README.md", encoding="utf-8").read()
block = re.search(r"^## Set-up.*?```bash\n(.*?)```", text, re.S | re.M).group(1)
print("\n".join(line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")))
PY
)
OUT="$WORK/setup_timings.txt"
: > "$OUT"
n=0
for cmd in "${COMMANDS[@]}"; do
    n=$((n + 1))
    rm -rf .venv && python3 -m venv .venv
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    start=$(date +%s)
    ( . .venv/bin/activate && bash -c "$cmd" ) > "$WORK/log$n.txt" 2>&1
    rc=$?
    wall=$(( $(date +%s) - start ))
    {
        echo "\$ $cmd"
        echo "# exit code $rc; ${wall} s wall ($((wall / 60)) min $((wall % 60)) s), install included"
        echo "# load average (1, 5, 15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "# last line printed: $(grep -v '^\s*$' "$WORK/log$n.txt" | tail -n 1)"
        echo
    } >> "$OUT"
done
{
    echo "# fresh clone of $(basename "$SRC") at git commit $(git rev-parse --short HEAD);"
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc --all) CPU cores, Python $(python3 -c 'import platform; print(platform.python_version())')"
} >> "$OUT"
cp "$OUT" "$ROOT/docs/data/setup_timings.txt"
cat "$ROOT/docs/data/setup_timings.txt"
