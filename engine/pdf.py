"""Print-ready HTML to PDF (WeasyPrint), and the QR code of a case code as inline SVG (segno).

WeasyPrint rather than headless Chromium's printing: it is a Python library that runs inside the command's
transaction (no browser process to start, supervise and time out per document, no extra port or sandbox), it
honours CSS paged media (@page A4, running headers with the case code on every page, page numbers), and it
draws Chinese text with the system's Noto CJK fonts through Pango (installed by the setup step:
scripts/ensure-chromium.sh installs fonts-noto-cjk, and Debian's libpango is what WeasyPrint loads).

Documents are rendered from our own templates and case data only: every outside fetch (http, file, data other
than inline) is refused, so a value in a template can never make the renderer read a local file or the network.
"""
from __future__ import annotations

import logging

import segno

from engine.errors import Unavailable
from engine.messages import msg

log = logging.getLogger(__name__)


class _Refused(Exception):
    pass


def _no_fetch(url: str, *args, **kwargs):
    # WeasyPrint's url_fetcher: nothing outside the document itself is loaded (fonts come from fontconfig).
    raise _Refused(f"outside resource refused: {url[:80]}")


def qr_svg(text: str, scale: int = 3) -> str:
    """The QR code of `text` (error correction M) as an inline <svg> element."""
    return segno.make(text, error="m").svg_inline(scale=scale, title=text)


def html_to_pdf(html: str) -> bytes:
    """The PDF of a print-ready HTML page (its own CSS sets @page). Raises Unavailable when WeasyPrint or
    its system libraries are missing (the setup step installs them: README.md): Unavailable, HTTP 503."""
    try:
        # imported here: loading Pango costs ~0.3 s, paid by the first document, not by every process start
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: libpango missing on the machine
        log.error("PDF requested but WeasyPrint cannot run here: %s", exc)
        raise Unavailable(msg("document.pdf_unavailable", problem=f"WeasyPrint: {exc}")) from exc
    return HTML(string=html, url_fetcher=_no_fetch, base_url=None).write_pdf()
