"""render_math: TeX in arXiv titles/abstracts becomes MathML, everything else is inert text."""

from html.parser import HTMLParser

import markupsafe
import pytest

from paperboy.papers.tex import _render_cached, render_math

MATHML = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup",
    "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
    "mstyle", "mpadded", "mphantom", "menclose",
}  # fmt: skip


class _Tags(HTMLParser):
    """Collects what a browser would see as elements and attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)


def assert_inert(html: str) -> None:
    """Only MathML elements and <code class="tex">, and no attribute that can script, link or style."""
    parsed = _Tags(html)
    assert set(parsed.tags) <= MATHML | {"code"}, parsed.tags
    for name, value in parsed.attrs:
        assert not name.startswith("on"), name
        assert name not in {"href", "xlink:href", "style", "src", "id"}, name
        if name == "class":
            assert value == "tex"


def count_math(html: str) -> int:
    return html.count("<math ")


# --- plain text: the fast path ---


def test_plain_text_is_escaped_and_takes_the_fast_path():
    before = _render_cached.cache_info()
    html = render_math("Attention <b>is</b> all you need & more")
    assert html == "Attention &lt;b&gt;is&lt;/b&gt; all you need &amp; more"
    assert isinstance(html, markupsafe.Markup)
    assert _render_cached.cache_info() == before  # plain text never touches the cache


def test_tex_escapes_outside_math_show_the_plain_character():
    assert render_math(r"improves by 10\% on R\&D, the snake\_case tag \#1") == (
        "improves by 10% on R&amp;D, the snake_case tag #1"
    )


def test_tilde_stays_as_is():
    assert render_math("about ~3x faster") == "about ~3x faster"


def test_script_in_abstract_is_inert():
    html = render_math("<script>alert(1)</script> and $x$")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert_inert(html)


def test_result_is_markup_that_jinja_will_not_escape_again():
    html = render_math(r"$\alpha$ & <b>")
    assert markupsafe.escape(html) == html


# --- math ---


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        (r"$\mathcal{O}(n \log n)$", "\U0001d4aa"),  # 𝒪
        (r"$10^{-3}$", "<msup><mn>10</mn>"),
        (r"$\alpha$-divergence", "<mi>α</mi>"),
        (r"$\ell_2$", "<msub><mi>ℓ</mi><mn>2</mn></msub>"),
        (r"$\mathbb{R}^d$", "<mi>ℝ</mi>"),
        (r"$\textbf{x}$", '<mtext mathvariant="bold">x</mtext>'),
        (r"$\times$", "<mo>×</mo>"),
        (r"$\approx$", "<mo>≈</mo>"),
    ],
)
def test_common_arxiv_tex_becomes_mathml(tex, expected):
    html = render_math(tex)
    assert count_math(html) == 1
    assert expected in html
    assert "<code" not in html  # no raw-TeX fallback
    assert_inert(html)


def test_sim_and_percent_around_math():
    html = render_math(r"$\sim$10\% fewer")
    assert count_math(html) == 1
    assert html.endswith("</math>10% fewer")


def test_greater_than_in_math_is_an_escaped_operator():
    html = render_math("$>$90% accuracy")
    assert "<mo>&gt;</mo>" in html
    assert html.endswith("</math>90% accuracy")


def test_inline_delimiters_parentheses():
    html = render_math(r"a bound \(O(\sqrt{T})\) holds")
    assert html.startswith('a bound <math display="inline">')
    assert "<msqrt>" in html
    assert html.endswith("</math> holds")


@pytest.mark.parametrize("tex", [r"$$x^2 + y^2$$", r"\[ x^2 + y^2 \]"])
def test_display_math_is_a_block(tex):
    html = render_math(f"we prove {tex} for all x")
    assert '<math display="block">' in html
    assert html.startswith("we prove <math")
    assert html.endswith("</math> for all x")


def test_adjacent_inline_math_is_not_mistaken_for_display_math():
    # arXiv 2025 abstract: "achieves overall speedups of $2.16\times$$\sim$$2.50\times$ over ..."
    html = render_math(r"speedups of $2.16\times$$\sim$$2.50\times$ over vanilla")
    assert count_math(html) == 3
    assert "block" not in html


def test_escaped_dollars_are_dollar_signs_not_math():
    html = render_math(r"trained for \$500 vs. \$100,000 with $n=4$ GPUs")
    assert html.startswith("trained for $500 vs. $100,000 with <math")
    assert count_math(html) == 1


def test_style_and_class_attributes_are_stripped():
    # the page's CSP is style-src 'self': an inline style attribute would be refused anyway
    html = render_math(r"$\style{color:red}{x}$ and $\class{evil}{y}$ and $\displaystyle \sum_i x_i$")
    assert " style=" not in html
    assert " class=" not in html
    assert count_math(html) == 3
    assert_inert(html)


# --- real titles and abstracts from arXiv cs (2025-2026) ---


@pytest.mark.parametrize(
    ("title", "maths"),
    [
        ("GSBAK$^K$: $top$-$K$ Geometric Score-based Black-box Attack", 3),
        (r"Di$\mathtt{[M]}$O: Distilling Masked Diffusion Models into One-step Generator", 1),
        (r"$\textit{Agents Under Siege}$: Breaking Pragmatic Multi-Agent LLM Systems", 1),
        (r"A$^\text{T}$A: Adaptive Transformation Agent for Text-Guided Subject-Position", 1),
        (r"NTIRE 2025 Challenge on Image Super-Resolution ($\times$4): Methods and Results", 1),
        (r"VideoVista-CulturalLingo: 360$^\circ$ Horizons-Bridging Cultures", 1),
        (r"Efficient Spike-Driven Video Transformer with Hamming Attention and $\mathcal{O}(T)$ Complexity", 1),
        (r"Robust face recognition based on the wing loss and the $\ell_1$ regularization", 1),
    ],
)
def test_real_titles_render_without_fallback(title, maths):
    html = render_math(title)
    assert count_math(html) == maths
    assert "<code" not in html
    assert_inert(html)


def test_real_abstract_with_unicode_commands():
    html = render_math(
        r"achieving profile (90$\unicode{x00b0}$$\unicode{x002b}$) TAR @ 1$\unicode{x0025}$ FAR"
    )
    assert count_math(html) == 3
    assert "°" in html and "<code" not in html


def test_real_abstract_with_display_math():
    html = render_math(
        r"requires only the order of $$ d^{1+2/K} \varepsilon^{-1/K} $$ score function evaluations"
    )
    assert '<math display="block">' in html
    assert html.endswith("</math> score function evaluations")


# --- dollars as money: arXiv abstracts often use an unescaped $ for prices ---


@pytest.mark.parametrize(
    "text",
    [
        "pharmaceutical industries face high costs (over $1 billion), long timelines",
        "median fixed-project price around $250, and an average of $306). Each task",
        "reducing operational costs from $0.398 to $0.228, resulting in a 28.4% improvement",
        "costs ~$1.5M to re-prefill but only ~$0.03M of reuse compute",
        "then Qwen 2.5 ($1.33M) and Mistral ($0.70M). We analyze",
        "PUSA V1.0: Surpassing Wan-I2V with $500 Training Cost by Vectorized Timestep Adaptation",
        "We propose World Preference Modeling$ (WorldPM) to emphasize this scaling potential",
    ],
)
def test_prices_stay_text(text):
    assert render_math(text) == markupsafe.escape(text)


def test_price_then_real_math():
    html = render_math("costs $5 and $x$ more")
    assert html.startswith("costs $5 and <math")
    assert count_math(html) == 1


def test_math_next_to_digits_is_still_math():
    # "512$\times$512$\times$256": the closer is followed by a digit but has no space before it
    assert count_math(render_math(r"up to 512$\times$512$\times$256 voxels")) == 2


# --- fallbacks: never fail, show what the author wrote ---


def test_unclosed_dollar_before_tex_shows_raw_tex():
    html = render_math(r"the $\alpha-divergence is bounded")
    assert html == 'the <code class="tex">$\\alpha-divergence</code> is bounded'


def test_unclosed_display_delimiters_show_raw():
    assert render_math(r"see \[ x") == 'see <code class="tex">\\[</code> x'
    assert render_math(r"see $$ x") == 'see <code class="tex">$$</code> x'


def test_tex_the_converter_rejects_shows_raw_tex_with_dollars():
    assert render_math(r"a $x^$ b") == 'a <code class="tex">$x^$</code> b'


def test_raw_tex_fallback_is_escaped():
    html = render_math(r"$\begin{<script>}x\end{<script>}$")
    assert html.startswith('<code class="tex">$\\begin{&lt;script&gt;}')
    assert_inert(html)


def test_deeply_nested_braces_do_not_crash():
    html = render_math("$" + "{" * 3000 + "x" + "}" * 3000 + "$")
    assert html.startswith('<code class="tex">$')


# --- XSS through the converter: latex2mathml unescapes its own output ---


@pytest.mark.parametrize(
    "payload",
    [
        r"$\text{<script>alert(1)</script>}$",
        r"$\mbox{<img src=x onerror=alert(1)>}$",
        r"$<img src=x onerror=alert(1)>$",
        r"$\href{javascript:alert(1)}{x}$",
        r"$\color{red&quot; onmouseover=&quot;alert(1)}{x}$",
        r'$\color{red" onmouseover="alert(1)}{x}$',
        r'$\hspace{"><script>alert(1)</script>}$',
        r"$\text{&#x3c;script&#x3e;alert(1)&#x3c;/script&#x3e;}$",
        r"$\operatorname{</math><script>alert(1)</script>}$",
        r"$$\text{</math><img src=x onerror=alert(1)>}$$",
        r"\(\mathrm{<svg onload=alert(1)>}\)",
        r"$\unknowncommand<iframe>$",
    ],
)
def test_xss_in_math_is_inert(payload):
    html = render_math(payload)
    assert_inert(html)
    assert "javascript:" not in html


def test_text_in_math_is_escaped_not_dropped():
    html = render_math(r"$\text{<script>alert(1)</script>}$")
    assert "<mtext>&lt;script&gt;alert(1)&lt;/script&gt;</mtext>" in html


def test_out_of_range_character_references_become_replacement_characters():
    html = render_math(r"$\text{&#x110000;&#0;}$")
    assert "<mtext>\ufffd\ufffd</mtext>" in html


# --- cache ---


def test_math_results_are_cached():
    text = r"a cached $\beta$ value"
    first = render_math(text)
    hits = _render_cached.cache_info().hits
    assert render_math(text) is first
    assert _render_cached.cache_info().hits == hits + 1


# --- \pmod, \bmod, \mod (issue 14) ---


def test_pmod_parentheses_do_not_stretch_to_the_row():
    html = str(render_math(r"$\frac{a}{b} \equiv c \pmod{n}$"))
    # the fence parentheses around "mod n" are marked not to stretch to the fraction's height
    assert '<mo stretchy="false">(</mo><mi>mod</mi>' in html
    assert html.count('<mo stretchy="false">)</mo>') == 1 and "<mo>)</mo>" not in html and "<mo>(</mo>" not in html
    assert '<mspace width="0.444em"></mspace><mo stretchy="false">(</mo>' in html  # TeX's inline \mkern8mu
    display = str(render_math(r"$$a \equiv b \pmod{n}$$"))
    assert '<mspace width="1em"></mspace><mo stretchy="false">(</mo>' in display  # 18mu in display
    assert_inert(html)


def test_pmod_keeps_inner_parentheses_paired():
    html = str(render_math(r"$x \pmod{(p+1)}$"))
    assert html.count('stretchy="false"') == 4  # outer pair (ours) and inner pair (latex2mathml's)
    assert html.endswith('<mo stretchy="false">)</mo></mrow></math>')


@pytest.mark.parametrize("tex", [r"$a \bmod n$", r"$a \mod n$"])
def test_bmod_and_mod_are_upright_words_without_brackets(tex):
    html = str(render_math(tex))
    assert ">mod<" in html and "(" not in html and "<mi>m</mi>" not in html


# --- plain text for <title> and link previews ---


@pytest.mark.parametrize(
    "title, plain",
    [
        (r"Schr\"odinger bridges for $\mathcal{O}(n^2)$ attention", "Schrödinger bridges for 𝒪(n^2) attention"),
        (r"\emph{Fast} $\alpha$-divergence at 50\% cost", "Fast α-divergence at 50% cost"),
        (r"$\mathbb{R}^d$ embeddings:  a \textbf{bold} claim", "ℝ^d embeddings: a bold claim"),
        ("Costs $5 and $10", "Costs $5 and $10"),
        ("A plain\n  title", "A plain title"),
        (r"$\alpha-divergence with an unclosed dollar", r"\alpha-divergence with an unclosed dollar"),
    ],
)
def test_plain_text_has_no_dollars_or_tex_commands(title, plain):
    from paperboy.papers.tex import plain_text

    assert plain_text(title) == plain


def test_plain_text_is_bounded():
    import time

    from paperboy.papers.tex import plain_text

    start = time.perf_counter()
    plain_text("\\[" * 10_000 + "$x$" * 5_000)
    assert time.perf_counter() - start < 2


# --- math in user comments: the same sanitiser ---


def test_comment_math_renders_like_abstracts_and_stays_inert():
    from paperboy.community.comments import render_comment

    html = str(render_comment("Nice: $\\alpha \\leq \\beta$ <b>bold</b>\nsee https://example.org/x costs $5 and $10"))
    assert "<math display=\"inline\">" in html and "α" in html and "&lt;b&gt;" in html
    assert '<a href="https://example.org/x" rel="nofollow ugc noopener">' in html and "<br>" in html
    assert "costs $5 and $10" in html  # money is not math
    evil = str(render_comment(r"$\href{javascript:alert(1)}{x}$ $\style{color:red}{y}$ $\text{<script>}$"))
    assert "<script" not in evil and "href=" not in evil and "style=" not in evil


def test_comment_math_never_spans_lines():
    from paperboy.community.comments import render_comment

    html = str(render_comment("a $x\nand y$ b"))
    assert "<math" not in html and html.count("<br>") == 1  # each line alone: "$x" and "y$" open nothing
    assert html.startswith("a ") and html.endswith("and y$ b")


def test_comment_without_math_is_shown_as_typed():
    from paperboy.community.comments import render_comment

    assert str(render_comment(r"C:\_dir and 100\%")) == r"C:\_dir and 100\%"
