#!/bin/sh
# The README's walk-through as one script, with curl and a POSIX shell only:
#   sh examples/curl/chat.sh [server] [user password] [other-user password]
# Defaults: http://localhost:4000, hans/falcon and luke/lightsaber from the sample credentials.txt.
# The second user's event stream is printed at the end, as curl received it.
set -eu

B=${1:-${CHAT_URL:-http://localhost:4000}}
SENDER=${2:-hans}
SENDER_PASSWORD=${3:-falcon}
RECIPIENT=${4:-luke}
RECIPIENT_PASSWORD=${5:-lightsaber}

STREAM=$(mktemp)
trap 'kill "$STREAM_PID" 2>/dev/null || true; rm -f "$STREAM"' EXIT

# POST /login answers {"token":"...",...}; sed picks the token out (no jq needed).
login() {
  curl -sS -X POST "$B/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
}
# An authenticated request; prints the answer and a newline.
as() {
  token=$1 method=$2 path=$3
  shift 3
  curl -sS -X "$method" "$B$path" -H "authorization: Bearer $token" "$@"
  echo
}

FROM=$(login "$SENDER" "$SENDER_PASSWORD")
TO=$(login "$RECIPIENT" "$RECIPIENT_PASSWORD")
[ -n "$FROM" ] && [ -n "$TO" ] || { echo "login failed" >&2; exit 1; }

# The recipient's stream, in the background; -N prints each event as it arrives.
curl -sS -N "$B/events" -H "authorization: Bearer $TO" >"$STREAM" &
STREAM_PID=$!
until grep -q '^retry:' "$STREAM"; do sleep 0.1; done

echo "## message";   as "$FROM" POST /messages -H 'content-type: application/json' -d "{\"to\":\"$RECIPIENT\",\"text\":\"Hey Dude\"}"
echo "## broadcast"; as "$FROM" POST /broadcasts -H 'content-type: application/json' -d '{"text":"Hello everyone"}'
echo "## whoelse";   as "$FROM" GET /users/online
echo "## whoelsesince 300"; as "$FROM" GET '/users/online?since=300'
echo "## block";     as "$TO" PUT "/blocks/$SENDER"
echo "## message to someone who blocked you"
as "$FROM" POST /messages -H 'content-type: application/json' -d "{\"to\":\"$RECIPIENT\",\"text\":\"still there?\"}"
echo "## unblock";   as "$TO" DELETE "/blocks/$SENDER"
echo "## history";   as "$FROM" GET "/messages?with=$RECIPIENT&limit=10"
echo "## logout";    as "$FROM" POST /logout -o /dev/null -w '%{http_code}'
as "$TO" POST /logout -o /dev/null -w '%{http_code}'

# The recipient's logout ends its stream with session_ended.
wait "$STREAM_PID" || true
echo "## $RECIPIENT's event stream"
cat "$STREAM"
