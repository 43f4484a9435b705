#!/usr/bin/env bash
# What WeasyPrint (the documents' and the dossier's PDFs: engine/pdf.py) needs from the system on Debian:
# Pango (text layout, with HarfBuzz and fontconfig) and the Noto CJK fonts (Chinese text). Installed when missing
# and we may (root + apt-get); otherwise said plainly: issuing a document then answers that PDFs cannot be made.
set -u
missing=()
ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so.0' || missing+=(libpango-1.0-0)
ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0' || missing+=(libpangoft2-1.0-0)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} for the PDF documents..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "could not install ${missing[*]}: documents and dossiers cannot be printed to PDF"
else
  echo "missing ${missing[*]} (apt-get install them as root): documents and dossiers cannot be printed to PDF"
fi
exit 0
