"""Atom feeds (RFC 4287) of every list the site shows: a day, week or month (``?cat=`` too), the
latest day, trending, a category, an author, and any search.

``/papers/feed.atom`` (the latest day), ``/papers/date/2026-06-30/feed.atom``,
``/papers/week/2026-W27/feed.atom``, ``/papers/month/2026-06/feed.atom``,
``/papers/trending/feed.atom``, ``/papers/category/cs.CL/feed.atom``,
``/papers/author/Yann LeCun/feed.atom`` and ``/search/feed.atom?q=…`` (the search page's
parameters; newest first unless ``sort=`` says otherwise). Pages link theirs with
``<link rel="alternate" type="application/atom+xml">``.

An entry's id is the paper's arXiv abstract URL, the same in every feed and forever; its
``updated`` is when the paper went on the feed, so a vote does not make readers show it again. Math
is readable text (``papers.tex.math_text``): feed readers show no MathML. Built with
ElementTree, so every text is escaped; characters XML cannot carry are dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from paperboy import __version__, clock, params
from paperboy.api.serializers import hf_time
from paperboy.errors import NotFound
from paperboy.feed.periods import Period
from paperboy.feed.views import feed_view, trending_view
from paperboy.http.site import site_of
from paperboy.papers.tex import math_text
from paperboy.params import MAX_AUTHOR
from paperboy.search.view import SearchParams, search_view
from paperboy.store import feeds

__all__ = ["router", "atom_feed", "ATOM_TYPE", "feed_url"]

router = APIRouter()

ATOM = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
ARXIV_SCHEME = "http://arxiv.org/schemas/atom"
DAY_ENTRIES = 1000  # a whole day (the corpus's busiest has 530)
LIST_ENTRIES = 100  # the top of a week or month; the newest of a category or author
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("", " ".join(value.split()))


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = _text(text)
    return el


def _on_feed(paper) -> str | None:
    """When the paper went on the feed: the stable ``updated`` of its entry."""
    return hf_time(paper.submitted_at or paper.announced or paper.published)


def atom_feed(papers: list, *, title: str, path: str, page: str, base_url: str, subtitle: str | None = None) -> bytes:
    """An Atom document: ``path`` is the feed's own URL (its id), ``page`` the HTML page it follows."""
    feed = ET.Element("feed", {"xmlns": ATOM, "xml:lang": "en"})
    _sub(feed, "id", base_url + path)
    _sub(feed, "title", title)
    if subtitle:
        _sub(feed, "subtitle", subtitle)
    stamps = [s for s in map(_on_feed, papers) if s]
    _sub(feed, "updated", max(stamps) if stamps else hf_time(clock.now()))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=base_url + path)
    _sub(feed, "link", rel="alternate", type="text/html", href=base_url + page)
    author = _sub(feed, "author")
    _sub(author, "name", "Paperboy")
    _sub(author, "uri", base_url + "/")
    _sub(feed, "generator", "Paperboy", version=__version__)
    _sub(feed, "icon", base_url + "/static/logo.svg")
    for paper in papers:
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"https://arxiv.org/abs/{paper.arxiv_id}")
        _sub(entry, "title", math_text(paper.title), type="text")
        _sub(entry, "updated", _on_feed(paper) or hf_time(clock.now()))
        if paper.published:
            _sub(entry, "published", hf_time(paper.published))
        _sub(entry, "link", rel="alternate", type="text/html", href=f"{base_url}/papers/{paper.arxiv_id}")
        _sub(entry, "link", rel="related", type="text/html", href=f"https://arxiv.org/abs/{paper.arxiv_id}", title="arXiv")
        _sub(entry, "link", rel="related", type="application/pdf", href=f"https://arxiv.org/pdf/{paper.arxiv_id}", title="PDF")
        for name in paper.authors:
            if name.strip():
                _sub(_sub(entry, "author"), "name", name)
        for code in paper.categories:
            _sub(entry, "category", term=code, scheme=ARXIV_SCHEME)
        _sub(entry, "summary", math_text(paper.abstract), type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)


def feed_url(page_path: str, query: str = "") -> str:
    """The feed of a page: ``/papers/date/2026-06-30?cat=cs.CL`` → ``/papers/date/2026-06-30/feed.atom?cat=cs.CL``."""
    base = "/papers" if page_path in ("/", "") else page_path.rstrip("/")
    return f"{base}/feed.atom" + (f"?{query}" if query else "")


async def _serve(request: Request, build, params: tuple[str, ...] = ()) -> Response:
    from paperboy.api.cache import cached_body

    return await cached_body(request, build, ATOM_TYPE, params=params)


def _period_feed(request: Request, period: Period | None):
    raw_category = request.query_params.get("cat")
    base = site_of(request).settings.base_url

    def build(conn) -> bytes:
        size = DAY_ENTRIES if period is None or period.kind == "day" else LIST_ENTRIES
        view = feed_view(conn, period, category=raw_category, size=size)
        shown, category = view.period, view.category
        query = f"?cat={category}" if category else ""
        if shown is None:
            return atom_feed([], title="Paperboy · Daily Papers", path=request.url.path, page="/", base_url=base)
        what = "Daily Papers" if shown.kind == "day" else f"Top papers of the {shown.kind}"
        title = f"{what} · {shown.label}" + (f" · {category}" if category else "")
        return atom_feed(view.papers, title=f"Paperboy · {title}", path=request.url.path + query, page=shown.path + query, base_url=base,
                         subtitle=f"{view.total:,} papers" + (f" in {category}" if category else ""))  # fmt: skip

    return build


@router.get("/papers/feed.atom", include_in_schema=False)
async def latest_feed(request: Request) -> Response:
    return await _serve(request, _period_feed(request, None), params=("cat",))


@router.get("/papers/date/{day}/feed.atom", include_in_schema=False)
async def day_feed(request: Request, day: str) -> Response:
    return await _serve(request, _period_feed(request, params.period_in_path("day", day)), params=("cat",))


@router.get("/papers/week/{week}/feed.atom", include_in_schema=False)
async def week_feed(request: Request, week: str) -> Response:
    return await _serve(request, _period_feed(request, params.period_in_path("week", week)), params=("cat",))


@router.get("/papers/month/{month}/feed.atom", include_in_schema=False)
async def month_feed(request: Request, month: str) -> Response:
    return await _serve(request, _period_feed(request, params.period_in_path("month", month)), params=("cat",))


@router.get("/papers/trending/feed.atom", include_in_schema=False)
async def trending_feed(request: Request) -> Response:
    base = site_of(request).settings.base_url
    size = site_of(request).settings.page_size

    def build(conn) -> bytes:
        view = trending_view(conn, page=1, size=size)
        return atom_feed(view.papers, title="Paperboy · Trending papers", path=request.url.path, page="/papers/trending", base_url=base,
                         subtitle="What the community is upvoting now")  # fmt: skip

    return await _serve(request, build)


@router.get("/papers/category/{category}/feed.atom", include_in_schema=False)
async def category_feed(request: Request, category: str) -> Response:
    category = params.category_in_path(category)
    base = site_of(request).settings.base_url

    def build(conn) -> bytes:
        found = feeds.feed_page(conn, None, None, category=category, order="newest", limit=LIST_ENTRIES)
        latest = found.papers[0].announced if found.papers else None
        page = f"/papers/date/{latest.isoformat()}?cat={category}" if latest else "/"
        return atom_feed(found.papers, title=f"Paperboy · Newest papers in {category}", path=request.url.path, page=page, base_url=base)

    return await _serve(request, build)


@router.get("/papers/author/{name}/feed.atom", include_in_schema=False)
async def author_feed(request: Request, name: str) -> Response:
    name = " ".join(name.split())[:MAX_AUTHOR]
    if not name:
        raise NotFound("Give an author's name.")
    base = site_of(request).settings.base_url
    view = await run_in_threadpool(search_view, site_of(request).search, SearchParams(author=name, sort="date", per_page=LIST_ENTRIES))
    from urllib.parse import quote

    body = atom_feed(view.results.papers, title=f"Paperboy · Papers by {name}", path=quote(f"/papers/author/{name}/feed.atom"), base_url=base,
                     page=f"/search?author={quote(name)}&sort=date")  # fmt: skip
    return Response(body, media_type=ATOM_TYPE, headers={"Cache-Control": "no-cache"})


@router.get("/search/feed.atom", include_in_schema=False)
async def search_feed(request: Request) -> Response:
    params = SearchParams.parse(request.query_params, per_page=50, default_sort="date")
    found = await run_in_threadpool(search_view, site_of(request).search, params)
    base = site_of(request).settings.base_url
    query = request.url.query
    what = params.q or (f"author:{params.author}" if params.author else "") or (f"cat:{params.cat}" if params.cat else "")
    body = atom_feed(found.results.papers, title=f"Paperboy · Search: {what}", path="/search/feed.atom" + (f"?{query}" if query else ""),
                     page="/search" + (f"?{query}" if query else ""), base_url=base)  # fmt: skip
    return Response(body, media_type=ATOM_TYPE, headers={"Cache-Control": "no-cache"})
