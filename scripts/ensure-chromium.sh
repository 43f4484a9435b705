#!/usr/bin/env bash
# Install Debian's chromium for the browser tests when it is missing and we may (root + apt-get).
set -u
# Chinese fonts: without them every label in a screenshot is a row of boxes (the pages must be looked at).
if ! fc-list :lang=zh 2>/dev/null | grep -q . && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Noto CJK fonts for the browser screenshots..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null 2>&1 \
    || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null) \
    || echo "could not install Chinese fonts: screenshots will show boxes for Chinese text"
fi
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium: the browser tests will be skipped"
else
  echo "chromium not found and cannot be installed here: the browser tests will be skipped"
fi
exit 0
