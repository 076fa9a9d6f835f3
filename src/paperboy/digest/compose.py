"""The digest mail: HTML with inlined CSS and a plain-text part, built for thousands of readers.

Mail clients ignore ``<style>`` blocks or strip them, so every rule is inlined (css-inline) into
``style`` attributes; the dark-mode and narrow-screen rules, which cannot be inlined, stay in a
``<style>`` block for the clients that honour it (Apple Mail, iOS, Outlook.com…), with
``color-scheme`` meta tags for the rest. Mail clients render no MathML, so TeX in titles and
abstracts becomes readable Unicode text (pylatexenc's latex2text) in both parts.

Speed: inlining costs ~1 ms a mail, so it is done once per edition, not per reader: the frame is
rendered and inlined once with slot markers, every paper's card once, each reason line once; a
reader's mail is then a join of ready pieces and their own links (:class:`Renderer`).
"""

from __future__ import annotations

import functools
import hashlib
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import css_inline
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import escape

from paperboy.config import Settings
from paperboy.digest.editions import Pick, Prepared
from paperboy.digest.subscriptions import Subscriber, manage_url, unsubscribe_url
from paperboy.mail.message import sender_domain

__all__ = ["Rendered", "Renderer", "message_id", "tex_to_text"]

TEMPLATES = Path(__file__).with_name("templates")
ABSTRACT_CHARS = 420
CSS = (TEMPLATES / "digest.css").read_text()

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"], default_for_string=False),
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)  # fmt: skip
_inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


@functools.lru_cache(maxsize=1)
def _latex():
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=True)


_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")


def tex_to_text(text: str) -> str:
    """TeX as readable text: ``$O(n^2)$`` → ``O(n^2)``, ``$\\alpha$`` → ``α``, ``\\emph{x}`` → ``x``.
    Text without TeX passes unchanged (and quickly); what cannot be parsed is kept as it was."""
    text = " ".join(text.split())
    if "$" not in text and "\\" not in text:
        return text
    try:  # a bare % starts a TeX comment, but in abstracts it is almost always "50% faster"
        return " ".join(_latex().latex_to_text(_UNESCAPED_PERCENT.sub(r"\\%", text)).split())
    except Exception:
        return text


def _source_prefix(text: str, limit: int) -> str:
    """Enough of a TeX abstract to show ``limit`` characters of it, cut at a space outside math.

    latex2text costs ~20 ms for a whole abstract with math and ~5 ms for the part a digest shows;
    a week's edition shows hundreds of abstracts."""
    if len(text) <= limit:
        return text
    cut = text.find(" ", limit)
    while cut != -1 and len(_DOLLAR.findall(text[:cut])) % 2:  # inside $…$: go on to a space after it
        cut = text.find(" ", cut + 1)
    return text if cut == -1 else text[:cut]


_DOLLAR = re.compile(r"(?<!\\)\$")


def _shorten(text: str, limit: int = ABSTRACT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.")
    return cut + " …"


def _authors(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 4 else ", ".join(names[:3]) + f" and {len(names) - 3} more"


def message_id(settings: Settings, sub: Subscriber, edition_key: str) -> str:
    """The same Message-ID every time this subscriber's copy of this edition is sent."""
    tag = hashlib.sha256(f"{edition_key}\0{sub.id}\0{sub.email_key}".encode()).hexdigest()[:16]
    return f"<digest.{edition_key}.{sub.id}.{tag}@{sender_domain(settings)}>"


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    paper_ids: list[int]


class Renderer:
    """Renders one edition for many readers; everything shared is done in ``__init__`` or cached."""

    def __init__(self, settings: Settings, prepared: Prepared):
        self.settings = settings
        self.prepared = prepared
        ed = prepared.edition
        self.daily = ed.kind == "daily"
        site = urlsplit(settings.base_url).netloc or settings.base_url
        heading = (f"Trending papers, {ed.label}" if self.daily else f"The week's trending papers, {ed.label}")
        self.subject = f"{heading} — Paperboy"
        context = dict(title=self.subject, heading=heading, rule=prepared.trending_rule, daily=self.daily,
                       feed_url=settings.base_url + ed.feed_path, site=site, css=CSS)  # fmt: skip
        html = _inliner.inline(_env.get_template("edition.html").render(**context))
        self.html_frame = _split(html)
        self.text_frame = _split(_env.get_template("edition.txt").render(**context))
        self._paper_html: dict[int, str] = {}
        self._paper_text: dict[int, str] = {}
        self._contexts: dict[int, dict] = {}
        self.reason_html = functools.lru_cache(maxsize=4096)(self._reason_html)
        self.personal_head = _fragment('<h2 class="personal-head">Picked for you</h2>\n')
        self.no_interests = _fragment('<p class="note">Add keywords, authors or categories in '
                                      '<a href="PBSLOTPREFS">your preferences</a> and this digest gets a section '
                                      "of papers picked for you.</p>\n")  # fmt: skip
        self.nothing_new = _fragment('<p class="note">Nothing new matched your interests in this edition.</p>\n')
        self.no_trending = _fragment('<p class="note">No papers were announced for this edition.</p>\n')

    def _reason_html(self, reason: str) -> str:
        return _fragment(f'<p class="reason">{escape(reason)}</p>\n')

    def paper_html(self, pid: int) -> str:
        html = self._paper_html.get(pid)
        if html is None:
            html = self._paper_html[pid] = _fragment(_env.get_template("paper.html").render(**self._paper_context(pid)))
        return html

    def paper_text(self, pid: int) -> str:
        text = self._paper_text.get(pid)
        if text is None:
            c = self._paper_context(pid)
            votes = f"▲ {c['votes']}" + (f" · {c['hf']} on Hugging Face" if c["hf"] else "")
            lines = [*textwrap.wrap(c["title"], 72), f"{votes} · {c['authors']}", c["url"], "",
                     *textwrap.wrap(c["abstract"], 72), "", ""]  # fmt: skip
            text = self._paper_text[pid] = "\n".join(lines)
        return text

    def _paper_context(self, pid: int) -> dict:
        context = self._contexts.get(pid)
        if context is None:
            context = self._contexts[pid] = self._make_context(pid)
        return context

    def _make_context(self, pid: int) -> dict:
        p = self.prepared.papers[pid]
        return dict(url=f"{self.settings.base_url}/papers/{p.arxiv_id}", title=tex_to_text(p.title), votes=p.upvotes,
                    hf=p.hf_upvotes, authors=_authors(p.authors), category=p.primary_category,
                    abstract=_shorten(tex_to_text(_source_prefix(p.abstract, ABSTRACT_CHARS + 120))))  # fmt: skip

    def render(self, sub: Subscriber, trending: list[Pick], personal: list[Pick]) -> Rendered:
        prefs, unsub = manage_url(self.settings, sub), unsubscribe_url(self.settings, sub)
        if trending:
            t_html = "".join(self.paper_html(p.paper_id) for p in trending)
        else:
            t_html = self.no_trending
        t_text = "".join(self.paper_text(p.paper_id) for p in trending) or "No papers were announced for this edition.\n\n"
        interested = bool(sub.keywords or sub.authors or sub.categories or (sub.more_like_votes and sub.user_id))
        if sub.personal_count <= 0:
            p_html = p_text = ""
        elif personal:
            p_html = self.personal_head + "".join(
                self.paper_html(p.paper_id).replace("PBSLOTREASON", self.reason_html(p.reason), 1) for p in personal)
            p_text = "Picked for you\n--------------\n\n" + "".join(f"[{p.reason}]\n" + self.paper_text(p.paper_id) for p in personal)
        elif interested:
            p_html, p_text = self.personal_head + self.nothing_new, "Picked for you: nothing new matched your interests this time.\n\n"
        else:
            p_html = self.no_interests
            p_text = "Add keywords, authors or categories in your preferences and this digest gets papers picked for you.\n\n"
        html = _fill(self.html_frame, TRENDING=t_html.replace("PBSLOTREASON", ""), PERSONAL=p_html, PREFS=str(escape(prefs)),
                     UNSUB=str(escape(unsub)))  # fmt: skip
        html = html.replace("PBSLOTPREFS", str(escape(prefs)))
        text = _fill(self.text_frame, TRENDING=t_text, PERSONAL=p_text, PREFS=prefs, UNSUB=unsub)
        headers = {
            "Message-ID": message_id(self.settings, sub, self.prepared.edition.key),
            "List-Unsubscribe": f"<{unsub}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"Paperboy digest <digest.{sender_domain(self.settings)}>",
        }
        return Rendered(self.subject, text, html, headers, [p.paper_id for p in trending + personal])


_SLOT = re.compile(r"PBSLOT(TRENDING|PERSONAL|PREFS|UNSUB)")


def _split(rendered: str) -> list[str]:
    """A rendered frame cut at its slot markers: [text, slot name, text, slot name, …, text]."""
    return _SLOT.split(rendered)


def _fill(parts: list[str], **slots: str) -> str:
    return "".join(slots[part] if i % 2 else part for i, part in enumerate(parts))


def _fragment(html: str) -> str:
    return css_inline.inline_fragment(html, CSS)
