"""Text of 1 KiB or more is served gzipped to clients that accept it (streams and /metrics
too); the dashboard's assets have content-hashed names, cached for a year."""

import gzip
import hashlib
import re
from pathlib import Path

import httpx
import pytest

from api import pages
from api.pages import STATIC

IMMUTABLE = "public, max-age=31536000, immutable"
GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}
README = Path(__file__).parents[3] / "README.md"


def hashed_urls(client) -> dict[str, str]:
    """The page's asset URLs by plain file name."""
    found = re.findall(r'(?:src|href)="(/static/[^"]+)"', client.get("/").text)
    return {re.sub(r"\.[0-9a-f]{12}\.", ".", url.removeprefix("/static/")): url
            for url in found}


def raw(client, path: str, headers: dict[str, str]) -> httpx.Response:
    """The response as sent: its body not decoded."""
    with client.stream("GET", path, headers=headers) as response:
        response.raw_body = b"".join(response.iter_raw())
    return response


def test_asset_names_change_with_their_content(client) -> None:
    urls = hashed_urls(client)
    assert set(urls) == {"favicon.svg", "app.css", "app.js"}
    for name, url in urls.items():
        digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
        stem, suffix = name.rsplit(".", 1)
        assert url == f"/static/{stem}.{digest}.{suffix}"
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.content == (STATIC / name).read_bytes()
    # The plain names still answer, revalidated each time; a stale hash is gone.
    assert client.get("/static/app.js").headers["cache-control"] == "no-cache"
    assert client.get("/static/app.000000000000.js").status_code == 404
    assert client.get("/initiatives/INIT-A").text.count(urls["app.js"]) == 1


def test_a_changed_asset_gets_a_new_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app.js").write_text("let a = 1;\n")
    monkeypatch.setattr(pages, "STATIC", tmp_path)
    pages.assets.cache_clear()
    try:
        before = pages.assets()["app.js"].url
        (tmp_path / "app.js").write_text("let a = 2;\n")
        pages.assets.cache_clear()
        assert pages.assets()["app.js"].url != before
    finally:
        pages.assets.cache_clear()


@pytest.mark.parametrize("path", [
    "/", "/initiatives/INIT-A", "/openapi.json", "/metrics",
    "/api/cost/export?format=csv", "/api/cost/export?format=jsonl",
])
def test_text_of_1_kib_or_more_is_gzipped(client, path: str) -> None:
    plain = raw(client, path, IDENTITY)
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert len(plain.raw_body) >= 1024
    packed = raw(client, path, GZIP)
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    body = gzip.decompress(packed.raw_body)
    if path == "/metrics":  # its counters moved with the first request
        assert body.startswith(b"# HELP")
    else:
        assert body == plain.raw_body
    assert len(packed.raw_body) < len(plain.raw_body)


def test_assets_are_gzipped_and_small_answers_are_not(client) -> None:
    for name, url in hashed_urls(client).items():
        packed = raw(client, url, GZIP)
        size = (STATIC / name).stat().st_size
        assert packed.headers.get("content-encoding") == ("gzip" if size >= 1024 else None)
        assert packed.headers["cache-control"] == IMMUTABLE
    small = raw(client, "/api/cost/budget", GZIP)
    assert len(small.raw_body) < 1024 and "content-encoding" not in small.headers


def test_the_readme_says_what_is_served(client) -> None:
    """The page and its assets, gzipped as served, weigh what README.md says (and the goal,
    ≤ 150 KB, holds)."""
    served = len(raw(client, "/", GZIP).raw_body) + sum(
        len(raw(client, url, GZIP).raw_body) for url in hashed_urls(client).values())
    claim = re.search(r"about (\d+) KB gzipped\s+as\s+served", README.read_text())
    assert claim, "README.md states the dashboard's served weight"
    assert abs(served - int(claim.group(1)) * 1000) <= 1000
    assert served <= 150_000
