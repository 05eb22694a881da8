"""GET / and /static: the web page and every file it refers to, served by the app itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from app.web.page import STATIC_DIR

pytestmark = pytest.mark.anyio

EXPECTED_TYPES = {".css": "text/css", ".js": "javascript"}


class LinkCollector(HTMLParser):
    """Every src and href in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in {"src", "href"} and value]


def page_links() -> list[str]:
    collector = LinkCollector()
    collector.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    return collector.links


def scripts() -> dict[str, str]:
    """Every module of the page's script, by file name."""
    return {path.name: path.read_text(encoding="utf-8") for path in STATIC_DIR.glob("*.js")}


def module_imports() -> list[str]:
    """What the page's modules import, as written in their ``from "..."`` clauses."""
    return [m for text in scripts().values() for m in re.findall(r'from "([^"]+)";', text)]


async def test_the_front_page_is_the_drawing_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert response.text == (STATIC_DIR / "index.html").read_text(encoding="utf-8")


async def test_every_file_the_page_refers_to_is_served(client: httpx.AsyncClient) -> None:
    static = [link for link in page_links() if link.startswith("static/")]
    assert {"static/app.js", "static/style.css"} <= set(static)
    # The modules app.js imports load from beside it; no file of the page may be missing.
    imported = {f"static/{name.removeprefix('./')}" for name in module_imports()}
    assert imported == {f"static/{name}" for name in scripts()} - {"static/app.js"}
    static += sorted(imported)
    for link in static:
        response = await client.get(f"/{link}")
        assert response.status_code == 200, link
        suffix = link[link.rindex(".") :]
        assert EXPECTED_TYPES[suffix] in response.headers["content-type"], link


def test_the_page_uses_only_relative_urls() -> None:
    """So it works behind a proxy that serves the app under a path prefix, on any host or port."""
    links = [link for link in page_links() if not link.startswith(("data:", "#"))]
    assert links, "the page should refer to its script and stylesheet"
    assert [link for link in links if re.match(r"^(/|[a-z]+://)", link)] == []
    fetched = [url for text in scripts().values() for url in re.findall(r'_URL = "([^"]+)"', text)]
    assert fetched, "the page's script should name the API URLs it calls"
    assert [url for url in fetched if url.startswith("/") or "://" in url] == []
    assert [name for name in module_imports() if not name.startswith("./")] == []


async def test_an_unknown_static_file_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/nothing-here.js")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404
