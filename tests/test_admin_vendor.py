"""htmx ships with the app, pinned; no page loads anything from another host."""

import hashlib
import re
from pathlib import Path

from llmcfg import PROJECT_ROOT

HTMX_DIR = PROJECT_ROOT / "llmcfg" / "static" / "vendor" / "htmx"
# htmx.org@2.0.11 from the npm registry, dist/htmx.min.js (see vendor/htmx/README.md).
HTMX_VERSION = "2.0.11"
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_vendored_htmx_is_the_pinned_release():
    data = (HTMX_DIR / "htmx.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == HTMX_SHA256
    assert (HTMX_DIR / "VERSION").read_text().strip() == HTMX_VERSION
    assert f'version:"{HTMX_VERSION}"' in data.decode()


def test_htmx_license_and_provenance_ship_beside_it():
    assert "Zero-Clause BSD" in (HTMX_DIR / "LICENSE").read_text()
    readme = (HTMX_DIR / "README.md").read_text()
    assert HTMX_SHA256 in readme and f"htmx.org@{HTMX_VERSION}" in readme


def test_no_template_loads_an_asset_from_another_host():
    remote = re.compile(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//', re.I)
    offenders = [str(p) for p in Path(PROJECT_ROOT / "templates").rglob("*.html") if remote.search(p.read_text())]
    assert offenders == []


def test_pages_serve_the_vendored_htmx(admin):
    page = admin.page("/")
    assert '<script src="/static/vendor/htmx/htmx.min.js"></script>' in page
    response = admin.get("/static/vendor/htmx/htmx.min.js")
    assert hashlib.sha256(response.get_data()).hexdigest() == HTMX_SHA256
    response.close()
