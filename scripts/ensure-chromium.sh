#!/usr/bin/env bash
# Install Debian's chromium for the browser tests when it is missing and we may (root + apt-get).
set -u
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium: the browser tests will be skipped"
else
  echo "chromium not found and cannot be installed here: the browser tests will be skipped"
fi
exit 0
