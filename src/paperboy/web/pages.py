"""HTML pages: the daily/weekly/monthly feeds, trending, and the paper page.

URL shapes follow hf.co/papers. Every page here is rendered once for everyone and kept in the
:class:`~paperboy.http.cache.PageCache` (keyed by URL, valid for the database's versions); what is
personal — account links, vote states, forms — is filled in per request (``web/personal.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote
from dataclasses import dataclass, fields

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from paperboy import params
from paperboy.community.votes import voted_ids
from paperboy.errors import Invalid, NotFound
from paperboy.feed.periods import Period, period_of
from paperboy.feed.views import day_place, feed_view, paper_view, trending_view
from paperboy.papers.bibtex import bibtex_entry
from paperboy.papers.ids import InvalidArxivId, parse_arxiv_id
from paperboy.store import feeds, repo
from paperboy.http.cache import canonical_query
from paperboy.http.respond import Answer, build_and_store, cached_response
from paperboy.web.context import Viewer, finish, get_viewer, safe_next
from paperboy.http.respond import versions
from paperboy.http.site import site_of
from paperboy.web.personal import FillState, Recorder, assemble, split
from paperboy.web.views import render

router = APIRouter()
# The pages most requests are for, matched before every other route (the app checks routes in
# order, and the paper page's catch-all comes last): a new-style arXiv id as its own convertor.
hot = APIRouter()


class _NewStyleId(Convertor):
    regex = r"\d{4}\.\d{4,5}(?:v\d+)?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _Period(_NewStyleId):
    regex = r"[^/.]+"  # no dot: /papers/date/2026-06-30.bib is the citations' route


register_url_convertor("arxiv_new", _NewStyleId())
register_url_convertor("period", _Period())

CHIPS = 12  # category chips shown above a feed; the rest are in a "more" list


@dataclass(slots=True)
class PageSpec:
    """What a page's build step found: the template and its context; ``paper`` for a paper's own page
    (its cached copy then also checks that paper's ``activity``)."""

    template: str
    context: dict
    paper: repo.Paper | None = None
    by_votes: bool = False  # the papers are shown most upvoted first (feeds): fresh counts can reorder them


Build = Callable[[Connection, bool], PageSpec]  # build(conn, moderator)


# --- layouts: cards or a compact list, per visitor, without JavaScript ------------------------------

LAYOUT_COOKIE = "pb_layout"
LAYOUTS = ("cards", "compact")


def layout_of(request: Request) -> str:
    """The visitor's chosen layout ("cards" unless their ``pb_layout`` cookie says "compact").

    Not personal data: one of two values, and each is its own shared cache entry (see
    :func:`cached_page`), so a compact page is never served to someone who chose cards."""
    return "compact" if request.cookies.get(LAYOUT_COOKIE) == "compact" else "cards"


@router.get("/layout/{name}", include_in_schema=False)
async def choose_layout(request: Request, name: str) -> Response:
    """Remember a layout in a cookie and go back (a plain link: works without JavaScript). Only a
    display preference changes, nothing on the server, so a link (GET) is enough."""
    if name not in LAYOUTS:
        raise NotFound("There are two layouts: cards and compact.")
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    response.set_cookie(LAYOUT_COOKIE, name, max_age=365 * 86400, httponly=True, samesite="lax",
                        secure=site_of(request).settings.https)  # fmt: skip
    return response


async def cached_page(request: Request, build: Build, *, params: tuple[str, ...] = (), vary: str = "",
                      layouts: bool = False) -> Response:  # fmt: skip
    """Serve a page that is the same for everyone but its personal fragments (``web/personal.py``).

    The shared rendering is cached (``http/respond.py``); logged-out visitors get its stored copy (one
    version read per request), members get it filled in with their fragments — their vote states
    from a per-process set, fresh vote counts when votes have moved — without rendering anything.
    Admins, who see hidden papers and moderation tools, get a page rendered for them each time.
    Rendering runs in the thread pool, so a slow page never stalls the hits behind it.

    ``params``: the query parameters the page reads. They alone, with the path, make its URL
    (:func:`~paperboy.http.cache.canonical_query`): its cache key, and the URL it is rendered for (its
    "log in" and layout links), so ``?junk=1`` is the same page, from the same entry.

    ``layouts``: the page comes in the visitor's layout (:func:`layout_of`), which is part of the
    cache key — one shared entry per layout, never one per visitor.
    """
    viewer = await get_viewer(request)
    layout = layout_of(request) if layouts else "cards"
    if layout != "cards":
        vary = f"{vary}#layout={layout}"
    site = site_of(request)
    query = canonical_query(request, params)
    url = request.url.path + (f"?{query}" if query else "")
    if viewer.is_admin:
        return finish(request, HTMLResponse(await run_in_threadpool(_render_direct, request, build, viewer, url, layout),
                                            headers={"Cache-Control": "private, no-cache"}))  # fmt: skip
    key = f"{request.url.path}?{query}" + (f"#{vary}" if vary else "")

    def load(conn: Connection) -> PageSpec:
        return build(conn, False)

    def make(spec: PageSpec) -> Answer:
        return _shared(request, spec, key, url)

    async def personal(page) -> Response | None:
        """The page filled in for a member (or a visitor with a flash message); ``None``: the stored copy."""
        if viewer.user is None and not viewer.flash:
            return None
        state = FillState(viewer, url)
        if viewer.user is not None:
            now = versions(request)
            state.voted = site.vote_sets.get(viewer.user.id, now.votes)
            if state.voted is None:
                state.voted = await run_in_threadpool(site.vote_sets.load, site.engine, viewer.user.id, now.votes)
            if page.votes != now.votes and page.paper_ids:
                state.counts = await _fresh_counts(request, page, now.votes)
                if page.by_votes and _reordered(page, state.counts):
                    # Members see the order their votes make at once (logged-out visitors within COUNT_LAG).
                    page = await build_and_store(request, key, load, make)
                    state.counts = None
        html = assemble(site.templates, site.page_cache.parts(page, split), page.specs, state, page.memo)
        return HTMLResponse(html, status_code=page.status, headers={"Cache-Control": "private, no-cache"})

    shared = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding, Cookie"}
    return finish(request, await cached_response(request, key, load, make, headers=shared, personal=personal))


def _layout(request: Request, key: str) -> str:
    return "compact" if key.endswith("#layout=compact") else "cards"


def _shared(request: Request, spec: PageSpec, key: str, url: str) -> Answer:
    """The page rendered for nobody in particular: the marked rendering, and the copy a logged-out
    visitor gets (its marks filled for nobody)."""
    env = site_of(request).templates
    recorder = Recorder()
    marked = env.get_template(spec.template).render(request_path=request.url.path, request_url=url, viewer=None,
                                                   _personal=recorder, layout=_layout(request, key), **spec.context)  # fmt: skip
    anonymous = assemble(env, split(marked), recorder.specs, FillState(None, url))
    paper_ids = [args["paper_id"] for name, args in recorder.specs if name == "vote"]
    keys = [args["arxiv_id"] for name, args in recorder.specs if name == "vote"]
    if spec.by_votes:  # what breaks ties between equal vote counts (feeds.FEED_RANK), in page order
        shown = {p.id: p for p in spec.context.get("papers", ())}
        keys = [(p.arxiv_id, p.hf_upvotes, p.announced) if (p := shown.get(pid)) else (k, None, None) for pid, k in zip(paper_ids, keys)]
    return Answer(anonymous, "text/html; charset=utf-8", paper=spec.paper, marked=marked, specs=recorder.specs,
                  paper_ids=tuple(paper_ids), by_votes=spec.by_votes, arxiv_ids=tuple(keys))  # fmt: skip


def _render_direct(request: Request, build: Build, viewer: Viewer, url: str, layout: str = "cards") -> str:
    """The page rendered for this viewer (an admin): hidden papers and comments, moderation tools."""
    with site_of(request).engine.connect() as conn:
        spec = build(conn, True)
        result = spec.context.get("result")  # a search page's results
        papers = [*spec.context.get("papers", ()), *(result.papers if result is not None else ()), *([spec.paper] if spec.paper else [])]
        voted = voted_ids(conn, viewer.user.id, [p.id for p in papers]) if viewer.user else set()
    return render(request, spec.template, viewer, voted=voted, layout=layout, **spec.context)


def _reordered(page, counts: dict[int, int]) -> bool:
    """Whether the page's papers, ranked by the feed's rule (``feeds.FEED_RANK``: votes, then Hugging
    Face's votes, then newest first), are no longer in its order with these counts."""
    shown = list(zip(page.paper_ids, page.arxiv_ids))
    return sorted(shown, key=lambda p: feeds.feed_rank_key(counts.get(p[0], 0), p[1][1], p[1][2], p[1][0])) != shown


async def _fresh_counts(request: Request, page, votes_version: int) -> dict[int, int]:
    """Vote counts of the page's papers now (members see counts as they are), once per votes version."""
    found = page.fresh_counts
    if found is not None and found[0] == votes_version:
        return found[1]

    def load():
        with site_of(request).engine.connect() as conn:
            return repo.vote_counts(conn, list(page.paper_ids))

    counts = await run_in_threadpool(load)
    page.fresh_counts = (votes_version, counts)
    return counts


async def feed(request: Request, period: Period | None) -> Response:
    page, category = request.query_params.get("page"), request.query_params.get("cat")
    size = site_of(request).settings.page_size

    def build(conn: Connection, moderator: bool) -> PageSpec:
        view = feed_view(conn, period, category=category, page=page, size=size)
        is_home = request.url.path == "/"
        # The first run's backfill, while it runs: its progress is a database row whose every change
        # moves the content version, so the cached page showing it is redone with it.
        fetching = _first_run(conn) if is_home or not view.papers else None
        if view.period is None:
            return PageSpec("empty.html", {"fetching": fetching})
        return PageSpec("feed.html", {**_fields(view), "chips": CHIPS, "is_home": is_home, "fetching": fetching}, by_votes=True)

    return await cached_page(request, build, params=("page", "cat"), layouts=True)


def _first_run(conn: Connection):
    from paperboy.ingest.backfill import first_run_state

    state = first_run_state(conn)
    return state if state is not None and state.running else None


def _fields(view) -> dict:
    """A view dataclass as template variables (one level: its fields, not their insides)."""
    return {f.name: getattr(view, f.name) for f in fields(view)}


@hot.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    return await feed(request, None)


@hot.get("/papers/date", include_in_schema=False)
async def go_to_date(request: Request) -> Response:
    """The feeds' date picker (a GET form: works without JavaScript): ``?day=2026-06-30`` (and
    ``kind=week|month``, ``cat=``) goes to the day, week or month holding that day."""
    kind = request.query_params.get("kind") or "day"
    if kind not in ("day", "week", "month"):
        raise Invalid("kind is day, week or month")
    day = params.period_in_path("day", request.query_params.get("day") or "")
    category = params.category(request.query_params.get("cat"))
    target = period_of(kind, day.start).path + (f"?cat={quote(category)}" if category else "")
    return RedirectResponse(target, status_code=303)


@hot.get("/papers/date/{day:period}", include_in_schema=False)
async def feed_day(request: Request, day: str) -> Response:
    return await feed(request, params.period_in_path("day", day))


@hot.get("/papers/week/{week:period}", include_in_schema=False)
async def feed_week(request: Request, week: str) -> Response:
    return await feed(request, params.period_in_path("week", week))


@hot.get("/papers/month/{month:period}", include_in_schema=False)
async def feed_month(request: Request, month: str) -> Response:
    return await feed(request, params.period_in_path("month", month))


@router.get("/papers/week", include_in_schema=False)
@router.get("/papers/month", include_in_schema=False)
async def latest_period(request: Request) -> Response:
    """The week or month of the latest day with papers (what the home page shows): the header's
    Weekly and Monthly links on pages that have no period of their own."""
    kind = request.url.path.rsplit("/", 1)[1]

    def load():
        with site_of(request).engine.connect() as conn:
            return feeds.latest_day(conn)

    latest = await run_in_threadpool(load)
    to = period_of(kind, latest).path if latest else "/"
    return finish(request, RedirectResponse(to, status_code=302, headers={"Cache-Control": "no-cache"}))


@hot.get("/papers/trending", include_in_schema=False)
async def trending_page(request: Request) -> Response:
    page = request.query_params.get("page")
    size = site_of(request).settings.page_size

    def build(conn: Connection, moderator: bool) -> PageSpec:
        return PageSpec("trending.html", _fields(trending_view(conn, page=page, size=size)))

    return await cached_page(request, build, params=("page",), layouts=True)


@hot.get("/papers/{arxiv_id:arxiv_new}", include_in_schema=False)
@router.get("/papers/{arxiv_id:path}", include_in_schema=False)  # old-style ids (cs/0101001), anything else: 404
async def paper_page(request: Request, arxiv_id: str) -> Response:
    try:
        parsed = parse_arxiv_id(arxiv_id)
    except InvalidArxivId as e:
        raise NotFound(str(e)) from None
    if parsed.version is not None or parsed.id != arxiv_id:
        return RedirectResponse(f"/papers/{parsed.id}", status_code=301)
    cpage = request.query_params.get("cpage")
    per_page = site_of(request).settings.comment_page_size
    size = site_of(request).settings.page_size

    def build(conn: Connection, moderator: bool) -> PageSpec:
        view = paper_view(conn, parsed.id, moderator=moderator, comment_page=cpage, comments_per_page=per_page)
        return PageSpec("paper.html", {**_fields(view), "claimable": view.claimable, "cpage": view.comment_page,
                                       "bibtex": bibtex_entry(view.paper), "place": day_place(conn, view.paper, size)},
                        paper=view.paper)  # fmt: skip

    return await cached_page(request, build, params=("cpage",))
