#!/usr/bin/env bash
# Checks that every commit after the given one (default: the last commit before this check existed)
# has a subject of at most 72 characters (CONTRIBUTING.md, "Style"). Older subjects are history.
# Prints each offending commit and exits 1 when there is one; needs the history (not a shallow clone
# missing the base: then it says so and exits 0).
set -euo pipefail
base=${1:-065583b}
if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
  echo "check-commits: $base is not in this clone's history; nothing checked" >&2
  exit 0
fi
bad=0
while IFS= read -r line; do
  subject=${line#* }
  if (( ${#subject} > 72 )); then
    echo "check-commits: ${line%% *}: subject of ${#subject} characters (at most 72): $subject" >&2
    bad=1
  fi
done < <(git log --format='%h %s' "$base..HEAD")
exit "$bad"
