#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, if they are missing.
# Needs root (CI and the development machines run as root); otherwise says what to install.
set -euo pipefail

# fonts-ipaexfont-gothic: the rich-menu image; chromium: real-browser tests of the console.
packages=(fonts-ipaexfont-gothic chromium)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null; }
