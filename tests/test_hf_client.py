"""The real huggingface_hub client (2.4.0, unmodified) against a live Paperboy on loopback.

The client reads ``HF_ENDPOINT`` once, when it is imported, so its calls run in a subprocess with
the variable set; the same subprocess also uses ``HfApi(endpoint=…)``. The database is the corpus
slice plus a little community life made through the domain functions: a submission, votes, a
comment, a verified author, Hugging Face's own counts and links.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from conftest import make_app, serve
from paperboy.accounts.users import create_user
from paperboy.community.claims import claim, decide_claim
from paperboy.community.comments import post_comment
from paperboy.community.votes import set_vote
from paperboy.store import feeds, repo
from paperboy.store.db import make_engine

pytest.importorskip("huggingface_hub")

DAY = dt.date(2026, 6, 30)

CLIENT = r"""
import json, sys
import huggingface_hub
from huggingface_hub import HfApi, list_daily_papers, list_papers, paper_info, read_paper
from huggingface_hub.errors import BadRequestError, HfHubHTTPError

api = HfApi(endpoint=sys.argv[1])
args = json.loads(sys.argv[2])

def t(value):
    return value.isoformat() if value else None

def info(p):
    return {
        "id": p.id, "title": p.title, "summary": p.summary, "published_at": t(p.published_at), "submitted_at": t(p.submitted_at),
        "authors": [[a.name, a.user.username if a.user else None, a.status, t(a.status_last_changed_at)] for a in p.authors or []],
        "upvotes": p.upvotes, "comments": p.comments, "discussion_id": p.discussion_id,
        "submitted_by": [p.submitted_by.username, p.submitted_by.fullname] if p.submitted_by else None,
        "github_repo": p.github_repo, "project_page": p.project_page,
        "hf_upvotes": getattr(p, "hfUpvotes", "absent"), "hf_comments": getattr(p, "hfNumComments", "absent"),
    }

def refused(call):
    try:
        call()
    except HfHubHTTPError as e:
        return [type(e).__name__, e.response.status_code, e.server_message, isinstance(e, ValueError)]
    return None

out = {
    "endpoint": huggingface_hub.constants.ENDPOINT,
    "latest": [info(p) for p in list_daily_papers()],  # module-level: HF_ENDPOINT
    "day": [info(p) for p in api.list_daily_papers(date=args["day"], limit=10)],
    "day_p1": [info(p) for p in api.list_daily_papers(date=args["day"], limit=10, p=1)],
    "past_end": [info(p) for p in api.list_daily_papers(date=args["day"], p=100)],
    "limit0": [info(p) for p in api.list_daily_papers(p=0, limit=0)],
    "week": [info(p) for p in api.list_daily_papers(week="2026-W27", limit=100)],
    "month": [info(p) for p in api.list_daily_papers(month="2026-06", limit=100, p=3)],
    "submitter": [info(p) for p in api.list_daily_papers(submitter="alice")],
    "trending": [info(p) for p in api.list_daily_papers(sort="trending", date=args["day"], limit=5, token="hf_not_ours")],
    "published": [info(p) for p in api.list_daily_papers(sort="publishedAt", date=args["day"], limit=5)],
    "search": [info(p) for p in list_papers(query=args["query"], limit=2)],
    "search_id": [info(p) for p in api.list_papers(query=args["paper"])],
    "search_empty": [info(p) for p in api.list_papers(query="", limit=3)],
    "paper": info(paper_info(args["paper"])),
    "paper_versioned": info(api.paper_info(args["paper"] + "v3")),
    "plain": info(api.paper_info(args["plain"])),
    "old_style": info(api.paper_info("hep-th/9711200")) if args["old_style"] else None,
    "markdown": read_paper(args["paper"]),
    "missing": refused(lambda: api.paper_info("1234.56789")),
    "missing_md": refused(lambda: api.read_paper("1234.56789")),
    "bad_date": refused(lambda: list(api.list_daily_papers(date="2025-13-40"))),
    "bad_sort": refused(lambda: list(api.list_daily_papers(sort="upvotes"))),
}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def community(slice_db, tmp_path_factory):
    """A copy of the slice with a submission, votes, a comment, a verified author and HF's counts."""
    path = tmp_path_factory.mktemp("hfclient") / "paperboy.db"
    path.write_bytes(slice_db.read_bytes())
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        ids = [p.arxiv_id for p in feeds.feed_page(conn, DAY, DAY, limit=3).papers]
        submitted, voted, plain = ids
        alice = create_user(conn, "alice", "alice@example.org", "correct horse battery staple")
        bob = create_user(conn, "bob", "bob@example.org", "correct horse battery staple")
        carol = create_user(conn, "carol", "carol@example.org", "correct horse battery staple")
        admin = create_user(conn, "root1", "root@example.org", "correct horse battery staple", is_admin=True)
        conn.exec_driver_sql(  # what community/submissions.py writes once arXiv has answered
            "UPDATE papers SET submitted_by = ?, submitted_at = ? WHERE arxiv_id = ?", (alice.id, dt.datetime(2026, 6, 30, 9, 15), submitted)
        )
        for who, arxiv_id in ((bob, submitted), (carol, submitted), (bob, voted)):
            set_vote(conn, who.id, repo.get_paper(conn, arxiv_id).id, True)
        post_comment(conn, bob.id, submitted, "Section 4 answers the question from the abstract.")
        claim(conn, carol.id, submitted, 0)
        claim_id = conn.exec_driver_sql("SELECT id FROM authorship_claims").scalar()
        decide_claim(conn, admin.id, claim_id, True)
        repo.set_hf_upvotes(conn, {submitted: 42})
        repo.set_hf_details(conn, {submitted: (7, "https://github.com/example/code", "https://example.org/project")})
        old_style = repo.get_paper(conn, "hep-th/9711200") is not None
        paper = repo.get_paper(conn, submitted)
    engine.dispose()
    return {"path": path, "paper": paper, "voted": voted, "plain": plain, "old_style": old_style}


@pytest.fixture(scope="module")
def answers(community):
    path = community["path"]
    app = make_app(f"sqlite:///{path}", path.parent)
    paper = community["paper"]
    args = {"day": DAY.isoformat(), "paper": paper.arxiv_id, "plain": community["plain"], "query": paper.title,
            "old_style": community["old_style"]}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    with serve(app) as url:
        env.update(HF_ENDPOINT=url, HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_IMPLICIT_TOKEN="1")
        run = subprocess.run([sys.executable, "-c", CLIENT, url, json.dumps(args)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def _day(value: str) -> dt.date:
    return dt.datetime.fromisoformat(value).date()


def test_the_client_reads_hf_endpoint(answers):
    assert answers["endpoint"].startswith("http://127.0.0.1:")


def test_latest_day_by_default(answers, slice_db):
    latest = answers["latest"]
    assert len(latest) == 50  # the client's default page; 1 July has 300 papers
    assert {_day(p["submitted_at"]) for p in latest} == {dt.date(2026, 7, 1)}


def test_a_day_is_paged_with_limit_and_p(answers):
    first, second = answers["day"], answers["day_p1"]
    assert len(first) == len(second) == 10
    assert not {p["id"] for p in first} & {p["id"] for p in second}
    for p in first + second:
        assert DAY - dt.timedelta(days=3) <= _day(p["submitted_at"]) < DAY + dt.timedelta(days=2)
    assert answers["past_end"] == []
    assert answers["limit0"] == []


def test_week_and_month_filter_by_the_daily_list_time(answers):
    assert answers["week"] and answers["month"]
    for p in answers["week"]:
        assert dt.date(2026, 6, 26) <= _day(p["submitted_at"]) < dt.date(2026, 7, 7)
    for p in answers["month"]:
        assert dt.date(2026, 5, 29) <= _day(p["submitted_at"]) < dt.date(2026, 7, 2)


def test_submitter_lists_their_submissions(answers, community):
    assert [p["id"] for p in answers["submitter"]] == [community["paper"].arxiv_id]
    assert answers["submitter"][0]["submitted_by"] == ["alice", "alice"]
    assert answers["submitter"][0]["submitted_at"] == "2026-06-30T09:15:00+00:00"


def test_sorts(answers, community):
    # Trending: the two papers with votes (two and one) lead the day, most recent weight first.
    assert [p["id"] for p in answers["trending"][:2]] == [community["paper"].arxiv_id, community["voted"]]
    published = answers["published"]
    times = [(p["submitted_at"], p["id"]) for p in published]
    assert times == sorted(times, reverse=True)  # the latest on the list first
    assert published[0]["id"] == community["paper"].arxiv_id  # submitted at 09:15, after the announcements


def test_every_field_we_have_is_parsed(answers, community):
    paper = community["paper"]
    got = answers["paper"]
    assert got["id"] == paper.arxiv_id and got["title"] == paper.title and got["summary"] == paper.abstract
    assert [a[0] for a in got["authors"]] == paper.authors
    assert got["authors"][0][1:3] == ["carol", "claimed_verified"] and got["authors"][0][3]
    assert all(a[1] is None for a in got["authors"][1:])
    assert got["upvotes"] == 2 and got["comments"] == 1
    assert got["published_at"] == dt.datetime.combine(paper.published or paper.announced, dt.time(), dt.timezone.utc).isoformat()
    assert got["submitted_at"] == "2026-06-30T09:15:00+00:00"
    assert got["submitted_by"] == ["alice", "alice"]
    assert got["github_repo"] == "https://github.com/example/code" and got["project_page"] == "https://example.org/project"
    assert got["hf_upvotes"] == 42 and got["hf_comments"] == 7  # HF's own counts, apart from ours
    assert len(got["discussion_id"]) == 24
    assert answers["paper_versioned"] == got  # a version suffix names the same paper
    # In a list the same paper parses the same (the client reads some keys only at the top level).
    listed = next(p for p in answers["trending"] if p["id"] == paper.arxiv_id)
    assert {k: v for k, v in listed.items() if k != "published_at"} == {k: v for k, v in got.items() if k != "published_at"}


def test_zero_upvotes_stay_zero(answers):
    assert answers["plain"]["upvotes"] == 0 and answers["plain"]["comments"] == 0
    assert answers["plain"]["hf_upvotes"] is None and answers["plain"]["submitted_by"] is None


def test_old_style_ids(answers, community):
    if community["old_style"]:
        assert answers["old_style"]["id"] == "hep-th/9711200"


def test_search(answers, community):
    assert len(answers["search"]) == 2
    assert answers["search"][0]["id"] == community["paper"].arxiv_id  # its own title finds it first
    assert [p["id"] for p in answers["search_id"]] == [community["paper"].arxiv_id]  # an arXiv id finds that paper
    assert answers["search_empty"] == []


def test_read_paper_is_markdown(answers, community):
    md = answers["markdown"]
    paper = community["paper"]
    assert md.startswith(f"# {' '.join(paper.title.split())}\n")
    assert paper.authors[0] in md and f"https://arxiv.org/abs/{paper.arxiv_id}" in md


def test_errors_raise_the_clients_exceptions(answers):
    assert answers["missing"] == ["HfHubHTTPError", 404, "Paper not found", False]
    assert answers["missing_md"][:2] == ["HfHubHTTPError", 404]
    assert answers["bad_date"] == ["BadRequestError", 400, "Invalid 'date', expected YYYY-MM-DD", True]
    assert answers["bad_sort"][:2] == ["BadRequestError", 400]
