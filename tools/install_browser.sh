#!/usr/bin/env bash
# Makes sure the browser test (tests/browser) has a Chromium to drive, installing Debian's when it can.
#
# Playwright (a dev dependency from PyPI) drives the system Chromium; its own browser download is not
# used. Without root or password-less sudo, or on a system without apt, nothing is installed: this
# script says why and exits 0, and the browser test is then skipped with the same reason. Under CI=true
# a Chromium that cannot be installed is an error (exit 1), because CI must run the browser test.
#
# Usage: tools/install_browser.sh [PYTHON]   (the Python whose playwright is checked; default .venv/bin/python)
set -euo pipefail

PYTHON=${1:-.venv/bin/python}
case "${CI:-}" in 1|true|TRUE|True|yes) in_ci=1 ;; *) in_ci=0 ;; esac

give_up() {  # why nothing was installed; fatal only in CI
    if [ "$in_ci" = 1 ]; then
        echo "install_browser: $1 (CI=true: the browser test must run, so this is an error)" >&2
        exit 1
    fi
    echo "install_browser: $1. The browser test will be skipped; everything else runs." >&2
    exit 0
}

find_chromium() {
    if [ -n "${CHROMIUM:-}" ]; then command -v "$CHROMIUM" && return 0; return 1; fi
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        command -v "$name" && return 0
    done
    return 1
}

if [ -x "$PYTHON" ] && ! "$PYTHON" -c 'import playwright' 2>/dev/null; then
    give_up "the Python package playwright is missing from $PYTHON (pip install -e '.[dev]' installs it)"
fi

if found=$(find_chromium); then
    echo "install_browser: Chromium found: $found ($("$found" --version 2>/dev/null | head -n 1 || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    case "$(uname -s)" in
        Darwin) give_up "no Chromium found; install Chromium or Google Chrome (e.g. brew install --cask chromium), then set CHROMIUM=/path/to/it if it is not on PATH" ;;
        *) give_up "no Chromium found and no apt-get here; install Chromium with your package manager (or set CHROMIUM=/path/to/chrome)" ;;
    esac
fi

if [ "$(id -u)" = 0 ]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    give_up "no Chromium found, and installing it needs root: run 'sudo apt-get install chromium' yourself"
fi

# Ubuntu's chromium-browser package only installs a snap, which cannot run headless in most containers;
# Debian's chromium package is a real build. Either way apt is asked for `chromium`.
echo "install_browser: installing Debian's chromium with apt-get (a few hundred MB, once)"
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get update -qq || ! "${as_root[@]}" apt-get install -y -qq chromium >/dev/null; then
    give_up "apt-get could not install chromium (no network to the Debian mirror, or no such package here)"
fi
found=$(find_chromium) || give_up "apt-get installed chromium but no chromium is on PATH"
echo "install_browser: Chromium installed: $found ($("$found" --version 2>/dev/null | head -n 1))"
