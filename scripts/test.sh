#!/usr/bin/env bash
# The whole test run (`make test`): lint, import contracts, migrations, deploy check, pytest on
# SQLite and PostgreSQL, browser tests in headless Chromium. With CI=true nothing may be skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
CI=${CI:-}
PG_URL=${KAPSTONE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
CHROMIUM=${KAPSTONE_CHROMIUM:-/usr/bin/chromium}
# The SQLite and PostgreSQL stages run on every core (pytest-xdist, one test database per
# worker); KAPSTONE_TEST_WORKERS=0 runs them in one process.
WORKERS=${KAPSTONE_TEST_WORKERS:-auto}
failures=()

stage() { printf '\n\033[1m== %s ==\033[0m\n' "$1"; }
fail() { failures+=("$1"); printf '\033[31mFAILED: %s\033[0m\n' "$1"; }

# pytest exits 5 when it collected no test: for us that is a broken suite, not a pass.
run_pytest() {
  local name=$1; shift
  "$PY" -m pytest "$@"
  local rc=$?
  if [ $rc -eq 5 ]; then
    echo "pytest collected no tests for '$name'"
    fail "$name (no tests collected)"
  elif [ $rc -ne 0 ]; then
    fail "$name"
  fi
}

stage "ruff"
"$PY" -m ruff check kapstone tests bench || fail "ruff check"
"$PY" -m ruff format --check kapstone tests bench || fail "ruff format"

stage "import contracts"
.venv/bin/lint-imports --no-cache || fail "import-linter"

stage "migrations are up to date"
KAPSTONE_DEV=1 "$PY" -m kapstone makemigrations --check --dry-run || fail "makemigrations --check"

stage "deploy check with production-like settings"
env -u KAPSTONE_DEV -u KAPSTONE_MFA_REQUIRED \
  KAPSTONE_SECRET_KEY="ci-$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 60)" \
  KAPSTONE_AUDIT_KEY="ci-audit-$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 48)" \
  KAPSTONE_ALLOWED_HOSTS=kapstone.example.org \
  KAPSTONE_DATABASE_URL="sqlite:///var/deploy-check.sqlite3" \
  "$PY" -m kapstone check --deploy --fail-level WARNING || fail "check --deploy"

stage "pytest on SQLite"
KAPSTONE_DATABASE_URL="sqlite:///var/test.sqlite3" run_pytest "pytest sqlite" -m "not browser" -q -n "$WORKERS" --dist loadgroup

stage "pytest on PostgreSQL"
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  KAPSTONE_DATABASE_URL="$PG_URL" run_pytest "pytest postgresql" -m "not browser and not cli and not full_demo" -q -n "$WORKERS" --dist loadgroup
elif [ "$CI" = "true" ]; then
  fail "PostgreSQL at 127.0.0.1:5432 is not reachable (mandatory with CI=true)"
else
  printf '\033[33mSKIPPED: PostgreSQL at 127.0.0.1:5432 is not reachable; the PostgreSQL run did not happen.\033[0m\n'
fi

stage "browser tests (headless Chromium)"
if [ -x "$CHROMIUM" ]; then
  KAPSTONE_CHROMIUM="$CHROMIUM" KAPSTONE_DATABASE_URL="sqlite:///var/test.sqlite3" run_pytest "browser tests" -m browser -q
elif [ "$CI" = "true" ]; then
  fail "Chromium not found at $CHROMIUM (mandatory with CI=true)"
else
  printf '\033[33mSKIPPED: no Chromium at %s; browser tests did not run.\033[0m\n' "$CHROMIUM"
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
  printf '\033[31m%d stage(s) failed:\033[0m\n' "${#failures[@]}"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
echo "All test stages passed."
