#!/usr/bin/env bash
# readme-check.sh: follow the README as a new user would. Clone the repository
# into a temporary directory and run the commands of the README's first code
# block (`make run`, `make test`) exactly as written there.
#
#   scripts/readme-check.sh [--skip-test] [--repo URL|PATH] [--ref REF]
#                           [--shared DIR | --no-shared] [--fresh-cache] [--keep]
#
#   --skip-test    do not run `make test` (CI runs it anyway)
#   --repo         what to clone (default: the repository this script is in;
#                  a local clone takes what is committed, not the work tree)
#   --ref          branch, tag or commit to check out (default: the clone's HEAD)
#   --shared DIR   test material to place beside the clone as ../shared
#                  (default: ../shared beside this repository, when present)
#   --no-shared    do not place it (tests that need it skip, or fail under CI=true)
#   --fresh-cache  use empty Go build and module caches, as on a new machine
#                  (downloads every module and compiles everything: slow)
#   --keep         keep the temporary directory
#
# `make run` must exit 0 and print at least one alert (a line with "rules=").
# Exit status: 0 when every command passed, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$here"
ref=""
shared=""
use_shared=1
skip_test=0
fresh=0
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-test) skip_test=1 ;;
    --repo) repo="$2"; shift ;;
    --ref) ref="$2"; shift ;;
    --shared) shared="$2"; shift ;;
    --no-shared) use_shared=0 ;;
    --fresh-cache) fresh=1 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "readme-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '\n== %s\n' "$*"; }
fail() { printf '\nreadme-check: FAIL: %s\n' "$*" >&2; exit 1; }

for tool in git make go; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (the README's commands need it)"
done
say "tools: $(go version), $(make --version | head -1), $(git --version)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/readme-check.XXXXXX")"
cleanup() {
  if [ "$keep" = 1 ]; then echo "kept $tmp"; else chmod -R u+w "$tmp" 2>/dev/null || true; rm -rf "$tmp"; fi
}
trap cleanup EXIT

say "clone $repo${ref:+ at $ref}"
git clone --quiet "$repo" "$tmp/sfconnector"
if [ -n "$ref" ]; then git -C "$tmp/sfconnector" checkout --quiet "$ref"; fi
echo "commit $(git -C "$tmp/sfconnector" log -1 --format='%h %s')"

if [ "$use_shared" = 1 ]; then
  [ -n "$shared" ] || shared="$here/../shared"
  if [ -d "$shared" ]; then
    ln -s "$(cd "$shared" && pwd)" "$tmp/shared"
    echo "test material: $tmp/shared -> $shared"
  else
    echo "no test material at $shared: tests that need ../shared will skip"
  fi
fi

if [ "$fresh" = 1 ]; then
  export GOCACHE="$tmp/gocache" GOMODCACHE="$tmp/gomodcache"
  echo "fresh Go caches in $tmp"
fi

# The commands: the first fenced code block of the README, comments removed.
readme="$tmp/sfconnector/README.md"
[ -f "$readme" ] || fail "the clone has no README.md"
mapfile -t commands < <(awk '
  /^```/ { if (inblock) exit; inblock = 1; next }
  inblock { sub(/[ \t]*#.*/, ""); if ($0 ~ /[^ \t]/) print }
' "$readme")
[ "${#commands[@]}" -gt 0 ] || fail "no commands in the README's first code block"
say "the README's commands: $(printf '[%s] ' "${commands[@]}")"

status=0
cd "$tmp/sfconnector"
for cmd in "${commands[@]}"; do
  case "$cmd" in
    "make test"*)
      if [ "$skip_test" = 1 ]; then say "$cmd: skipped (--skip-test)"; continue; fi ;;
  esac
  say "$cmd"
  log="$tmp/$(echo "$cmd" | tr -c 'a-zA-Z0-9' '_').log"
  start=$(date +%s)
  set +e
  bash -c "$cmd" > >(tee "$log") 2>&1
  rc=$?
  set -e
  sleep 0.2   # let tee finish writing
  took=$(( $(date +%s) - start ))
  if [ "$rc" -ne 0 ]; then
    echo "readme-check: '$cmd' exited $rc after ${took}s" >&2
    status=1
    continue
  fi
  case "$cmd" in
    "make run"*)
      alerts=$(grep -c 'rules=' "$log" || true)
      if [ "$alerts" -lt 1 ]; then
        echo "readme-check: '$cmd' printed no alert (no line with rules=)" >&2
        status=1
        continue
      fi
      echo "readme-check: '$cmd' ok in ${took}s: $alerts alerts, e.g."
      grep -m 3 'rules=' "$log" | cut -c1-200
      ;;
    *)
      echo "readme-check: '$cmd' ok in ${took}s"
      ;;
  esac
done

if [ "$status" -ne 0 ]; then fail "the README's commands did not all work on a fresh clone"; fi
say "PASS: the README's commands work on a fresh clone"
