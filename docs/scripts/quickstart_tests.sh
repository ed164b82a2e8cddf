#!/usr/bin/env bash
# Store what the README's second set-up command prints at its end, for the docs' Quickstart page.
#
#   bash docs/scripts/quickstart_tests.sh        # from the repository root, project installed
#
# Runs the test step of that command (`python -m pytest -q`) and writes its last lines, with
# the git commit, date and wall time, to docs/data/quickstart_tests.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
python -m pytest -q > /tmp/ktiw_quickstart_tests.log 2>&1
rc=$?
wall=$(( $(date +%s) - start ))
dirty=$( [ -n "$(git status --porcelain 2>/dev/null)" ] && echo " + uncommitted changes" || true )
{
    echo "\$ python -m pytest -q"
    echo "..."
    tail -n 2 /tmp/ktiw_quickstart_tests.log
    echo
    echo "# exit code $rc, ${wall} s wall; git commit $(git rev-parse --short HEAD)${dirty};"
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPU cores, Python $(python -c 'import platform; print(platform.python_version())')"
} > docs/data/quickstart_tests.txt.new
# replaced only now: the docs build inside the test run reads the previous one
mv docs/data/quickstart_tests.txt.new docs/data/quickstart_tests.txt
cat docs/data/quickstart_tests.txt
exit $rc
