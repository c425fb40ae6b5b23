#!/usr/bin/env bash
# Headless Chromium and the fonts the packs name, from Debian's packages, when missing (`make browser`,
# which `make test` runs). Silent when everything is there; as root it installs what is missing with
# apt-get. It never fails the build: when it cannot install (not root, no apt-get, apt-get failed) it
# says what to install, and the browser tests then fail under CI=true and are skipped elsewhere.
set -euo pipefail

missing=()
chromium="${EVALKIT_CHROMIUM:-}"
if [[ -n "$chromium" ]]; then
    command -v "$chromium" >/dev/null 2>&1 || echo "install_browser: EVALKIT_CHROMIUM=$chromium is not an executable" >&2
elif ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
        && ! command -v google-chrome >/dev/null 2>&1; then
    missing+=(chromium)
fi
# Liberation Sans has Arial's metrics, so pack text sets the same on screen and in PDF.
if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' fonts-liberation 2>/dev/null | grep -q "install ok installed" || missing+=(fonts-liberation)
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: ${missing[*]} missing; the browser tests and \`evalkit publish --pdf\` need them." >&2
    echo "install_browser: on Debian, as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 0
fi
echo "install_browser: installing ${missing[*]} from Debian's packages (apt-get)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "install_browser: apt-get could not install ${missing[*]}; the browser tests will say so." >&2
fi
