#!/usr/bin/env bash
# Runs schemathesis against a freshly started `logplane serve` on the embedded store, with a
# platform-admin token, bounded in examples and time. Usage: .ci/schemathesis.sh PATH_TO_LOGPLANE
set -euo pipefail
binary=${1:?path to the logplane binary}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
secret="schemathesis-bootstrap-$(date +%s)-$RANDOM"

# The admin key's rate limit and the refused-credential budget of schemathesis's address are
# lifted: schemathesis sends far more than a client would (thousands of requests without or with
# bad credentials, to which it expects 401), and 429s would only shorten what it explores (rate
# limits have tests of their own).
LOGPLANE_BOOTSTRAP_ADMIN_KEY=$secret "$binary" serve --data-dir "$work/data" --listen "127.0.0.1:$port" \
  --key-requests-per-sec 1000000 --key-burst 1000000 \
  --refused-credentials-per-sec 1000000 --refused-credentials-burst 1000000 \
  > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
  sleep 0.1
done
token=$(curl -fsS -X POST "http://127.0.0.1:$port/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"api_key\": \"$secret\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

status=0
schemathesis --config-file "$here/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-420}" \
  --request-timeout 10 \
  --seed "${SCHEMATHESIS_SEED:-20261125}" \
  --no-color || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail) ---"
  tail -50 "$work/server.log"
fi
exit "$status"
