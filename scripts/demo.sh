#!/usr/bin/env bash
# A whole province on loopback, with the real command-line tools, as an operator would:
# a coordinator, five sites, simulated records, reports delivered over QUIC, completeness,
# the donor package published and verified.
#
#   scripts/demo.sh            # builds release binaries, runs everything in a temporary folder
#   KEEP=1 scripts/demo.sh     # keep one site's web app up (Ctrl-C stops it) and the folder
#   CLIENTS=800 scripts/demo.sh
#
# Exits non-zero if any step fails. Cleans up its processes on exit, even on Ctrl-C.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
CLIENTS="${CLIENTS:-400}"
SITES=(hn-ba-dinh hn-dong-da hn-hoan-kiem hn-long-bien hn-cau-giay)
NAMES=("Trạm Y tế phường Điện Biên, Ba Đình" "Cơ sở điều trị Methadone Đống Đa" "Nhóm tự lực Hoàn Kiếm" "Điểm tư vấn Long Biên" "Trung tâm cai nghiện tự nguyện Cầu Giấy")

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step() { printf '   %s\n' "$*"; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/quietcount-demo.XXXXXX")"
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then
    echo "Kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bold "Building release binaries (target: $TARGET_DIR)"
cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" \
  -p quietcount-coordinator -p quietcount-node -p quietcount-keys
COORD="$BIN/quietcount-coordinator"
NODE="$BIN/quietcount-node"
KEYS="$BIN/quietcount-keys"

# The most recent closed month: the period every site reports.
PERIOD="$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)"
mkdir -p "$WORK/logs"

# Polls (every 0.1 s, up to 30 s) until the command given succeeds.
wait_for() {
  for _ in $(seq 1 300); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

bold "1. The province initialises its coordinator"
"$COORD" init --dir "$WORK/coordinator" --province "Hà Nội (demo)" --listen 127.0.0.1:0

bold "2. The coordinator starts, on a loopback port of its choosing"
"$COORD" run --dir "$WORK/coordinator" >"$WORK/logs/coordinator.log" 2>&1 &
PIDS+=($!)
# Once bound, `run` writes the address it listens on to run/listen-address.
wait_for test -s "$WORK/coordinator/run/listen-address" \
  || { cat "$WORK/logs/coordinator.log"; echo "coordinator did not start" >&2; exit 1; }
ADDR="$(cat "$WORK/coordinator/run/listen-address")"
step "listening on $ADDR (pid ${PIDS[0]})"

bold "3. Five sites initialise their nodes; the province enrols each, checking the fingerprint read over the phone"
for i in "${!SITES[@]}"; do
  site="${SITES[$i]}"
  out="$("$NODE" init --dir "$WORK/sites/$site" --site "$site" --coordinator "$ADDR" \
    --coordinator-key "$WORK/coordinator/coordinator.pub")"
  fp="$(grep -oE '[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}' <<<"$out" | head -n1)"
  step "$site: site key fingerprint $fp"
  # The recovery key init shows once: the demo uses the web app site's to add a staff member.
  if [ "$i" = 2 ]; then
    awk '/RECOVERY KEY/ {found = 1; next} found && NF {print $1; exit}' <<<"$out" >"$WORK/recovery-key.txt"
  fi
  "$COORD" enroll --dir "$WORK/coordinator" --site "$site" --name "${NAMES[$i]}" \
    --key "$WORK/sites/$site/site.pub" --expect-fingerprint "$fp" --reports-from "$PERIOD" \
    | sed 's/^/   /'
done
# The running coordinator picks up new enrolments within a second, and logs each key it accepts.
for site in "${SITES[@]}"; do
  wait_for grep -qE "site key accepted site=$site\$" "$WORK/logs/coordinator.log" \
    || { cat "$WORK/logs/coordinator.log"; echo "enrolment of $site not picked up" >&2; exit 1; }
done
step "the coordinator accepts all five site keys"

bold "4. Each site records its clients (simulated: $CLIENTS clients, 12 months up to $PERIOD)"
for i in "${!SITES[@]}"; do
  site="${SITES[$i]}"
  "$NODE" simulate --dir "$WORK/sites/$site" --clients "$((CLIENTS + i * 150))" --months 12 --seed "$((i + 1))" --until "$PERIOD" | sed 's/^/   /'
done

bold "5. A site officer previews the report for $PERIOD exactly as it will leave the site"
"$NODE" report --dir "$WORK/sites/${SITES[2]}" --period "$PERIOD" --preview | head -n 40 | sed 's/^/   /'
step "(first 40 lines; * marks a suppressed cell)"

bold "6. Every site builds, signs and delivers its report"
for site in "${SITES[@]}"; do
  "$NODE" report --dir "$WORK/sites/$site" --period "$PERIOD" | sed 's/^/   /'
  "$NODE" submit --dir "$WORK/sites/$site" | sed 's/^/   /'
done

bold "7. The province checks completeness"
"$COORD" status --dir "$WORK/coordinator" --period "$PERIOD" | sed 's/^/   /'
step "(on time = received within the configured days after $PERIOD ended, by the signed receipt time;"
step " this demo delivers $PERIOD's reports today, so they may well count as late)"

bold "8. The province publishes the donor package"
"$COORD" publish --dir "$WORK/coordinator" --period "$PERIOD" --out "$WORK/package" | sed 's/^/   /'
ls -R "$WORK/package" | sed 's/^/   /'

bold "Provincial totals (first rows of totals.csv; bounded = rests on suppressed site cells)"
head -n 1 "$WORK/package/totals.csv" | sed 's/^/   /'
grep -E ',(clients_active|clients_new|urine_tests),' "$WORK/package/totals.csv" | head -n 30 | sed 's/^/   /'
step "bounded cells in the package: $(grep -c ',bounded$' "$WORK/package/totals.csv" || true)"

bold "9. A donor verifies the package offline, trusting only the coordinator's public key"
"$KEYS" verify "$WORK/package" --trust "$WORK/coordinator/coordinator.pub"

WEB_SITE="${SITES[2]}"
bold "10. The staff web app of $WEB_SITE, served by its node service (quietcount-node run)"
# Another program may hold the default port 8470: let the demo's node take a free one.
sed -i 's/^web_port = .*/web_port = 0/' "$WORK/sites/$WEB_SITE/config.toml"
printf 'demo-passphrase\n' >"$WORK/staff-passphrase.txt"
"$NODE" staff add --dir "$WORK/sites/$WEB_SITE" --recovery --recovery-key-file "$WORK/recovery-key.txt" \
  --name "Lan" --new-passphrase-file "$WORK/staff-passphrase.txt" | sed 's/^/   /'
"$NODE" run --dir "$WORK/sites/$WEB_SITE" >"$WORK/logs/node-$WEB_SITE.log" 2>&1 &
PIDS+=($!)
wait_for test -s "$WORK/sites/$WEB_SITE/run/web-address" \
  || { cat "$WORK/logs/node-$WEB_SITE.log"; echo "the web app did not start" >&2; exit 1; }
WEB_URL="$(cat "$WORK/sites/$WEB_SITE/run/web-address")"
"$NODE" status --dir "$WORK/sites/$WEB_SITE" | grep 'Web app' | sed 's/^/   /'
if command -v curl >/dev/null; then
  curl -fsS "${WEB_URL}login" | grep -q 'Đăng nhập' || { echo "the web app does not answer" >&2; exit 1; }
fi
step "open $WEB_URL in a browser on this computer; log in as Lan with the passphrase demo-passphrase"
if [ "${KEEP:-0}" = 1 ]; then
  step "KEEP=1: the web app stays up until Ctrl-C"
  wait "${PIDS[-1]}"
fi
