"""Web pages -> articles: trafilatura for the main text and metadata, plus what a harvester adds.

parse_article   page bytes -> {url, canonical_url, title, authors, published, site_name, language,
                text, status, reason}; status is `extracted`, `partial` (text was extracted, but the
                page's own structure shows article text that it lacks; `reason` says what) or
                `link-only` (no readable article: paywall, consent wall, script-only, too large;
                `reason` says which), never an exception
canonical_url   the address identity is decided on: the page's declared canonical address when it
                is on the same site, tracking parameters removed

What this adds to trafilatura called bare: the HTTP charset wins over guessing; comments are left
out (they are not the report); page furniture (most-read and trending lists, sidebars, newsletter
sign-up blocks, forms) is removed before extraction, and call-to-action paragraphs (newsletter,
"Read more:", app, copyright lines) after it; article paragraphs the extraction left out of the
page's own article structure (a body split over sibling containers, a body that continues after an
inline block, a newsletter's several stories) are put back in page order; article text that the
page holds only as data (JSON-LD `articleBody`, app state) is used when the markup yields little;
the headline and standfirst are kept once; titles lose the site's name after a separator; bylines
lose form labels and a trailing month that belongs to the date; the language comes from the page's
declarations; authors become a list of names.
News reports and guidance pages both come through here.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from datetime import date
from urllib.parse import urlsplit

import trafilatura

from ..identifiers import canonical_url as spelled
from ..text import folded

MAX_PAGE_BYTES = 8 * 1024 * 1024   # beyond this a page is kept as a link, not parsed
# Dates only from what the page states about itself (metadata, bylines, URL), never a guess from
# any date in the text such as a copyright year; original (publication) dates over updates.
DATE_SEARCH = {"extensive_search": False, "original_date": True}
WALL_SEARCH_CHARS = 200_000       # how much of a page without an article is searched for the reason why
MIN_ARTICLE_CHARS = 250            # less than this is not an article (teaser, wall, shell page)

CALL_TO_ACTION = re.compile(r"""
    ^(read\ (more|also)\b | related: | see\ also: | advertisement$ | (click|tap)\ here | subscribe\b
      | sign\ up\b | follow\ (us|the\ [\w\ ]{1,30}?)\ on\b | download\ (the|our)\b | get\ the\ latest\b
      | copyright\ © | ©)
    | \ball\ rights\ reserved\b | \balready\ a\ subscriber\b | \bplease\ subscribe\b
    | \bsubscribe\ (now|today)\b | \bwe\ want\ to\ hear\b | \bsubmit\ your\ letter\b""", re.I | re.X)
PAYWALL = re.compile(r"\b(subscribe to (continue|read)|to view the full story|already a subscriber|"
                     r"subscribers only|for subscribers|log in to continue reading)\b", re.I)
CONSENT = re.compile(r"\b(we use cookies|cookie (settings|preferences|policy)|accept all cookies|"
                     r"consent to (our|the) use)\b", re.I)
SCRIPT_ONLY = re.compile(r"\b(enable javascript|javascript is (disabled|required)|turn on javascript)\b", re.I)
FORM_LABELS = re.compile(r"\b(?:user ?name|password|e-?mail(?: address)?|log ?in|sign ?in|register|"
                         r"forgot(?: your)? password\??|remember me|search)\b", re.I)
TRAILING_DATE_WORD = re.compile(r"\s+(?:updated|published|posted|last modified)\b.*$", re.I)
TRAILING_MONTH = re.compile(r"\s+(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
                            r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|monday|tuesday|wednesday|thursday|friday|"
                            r"saturday|sunday)\.?$", re.I)
TITLE_SEPARATOR = re.compile(r"\s+[|\-\u2013\u2014\u00b7\u2022]{1,2}\s+|\s*\|\s*")
# Page furniture: sidebars, most-read lists, sign-up blocks, share bars, recirculation modules
# Page furniture, by one class or id token: sidebars, most-read lists, sign-up blocks, share bars,
# recirculation modules ('c-most-popular', 'newsletter-signup', 'related-stories__list')
FURNITURE = re.compile(r"(?i)(?:[a-z]{1,3}-)?(?:most-?(?:popular|read|viewed|shared)|trending(?:-now)?|sidebar|"
                       r"newsletter[-_]{0,2}(?:sign-?up|subscribe|subscription|form|cta|promo|box|block|widget|module|"
                       r"container|wrapper|banner|inline|pitch)|sign-?up(?:-form)?|subscribe|subscription|related(?:-(?:articles|"
                       r"stories|content|posts|links))?|recommended|outbrain|taboola|share-?(?:bar|tools|buttons)|"
                       r"social-?share|more-?stories|popular(?:-(?:posts|stories))?|read-?more|recirc(?:ulation)?)"
                       r"(?:(?:-|__|_)(?:widget|module|box|block|container|wrapper|list|section|unit|links?|area|panel|"
                       r"form|cta|promo))?")
FURNITURE_HEADING = re.compile(r"(?i)(most (popular|read|viewed|shared)|trending( now)?|popular( now| stories)?|"
                               r"related( stories| articles| content)?|recommended( for you)?|more (from|stories|on)\b.*|"
                               r"(sign up|subscribe) (to|for) (our|the) .{0,40}newsletter.*|get (our|the) .{0,30}newsletter.*)")
COMMENTS = re.compile(r"(?i)comment")
# Inside the article's containers, blocks that are not its running text: captions and credits,
# galleries and video players, widgets and calls to action, bios, tags, share bars.
NOT_BODY = re.compile(r"(?i)caption|credit|gallery|slideshow|video|photo|image|\bimg|\bmedia|widget|\bcta\b|-cta|"
                      r"promo|advert|sponsor|donat|support|newsletter[-_]*(?:sign|sub|form|cta|promo|box|block|widget|banner)|"
                      r"subscri|sign-?up|related|recommend|popular|"
                      r"trending|sidebar|share|social|comment|\bbio\b|author|byline|\btags?\b|breadcrumb|disclaimer|"
                      r"\bad\b|\bads\b|-ad\b|embed|tweet|instagram|read-?more|more-?from")
CAPTION_TEXT = re.compile(r"\((?:AP|AFP|Reuters|Getty|EPA)(?: Photo)?[/ ]|\bPhoto(?:graph)?:\s|/Getty Images|"
                          r"\(Photo by |\bImage:\s", re.I)
OUTSIDE_ARTICLE = {"aside", "nav", "footer", "figure", "figcaption", "form", "header", "noscript", "blockquote"}
ARTICLE_BODY_CLASS = re.compile(r"(?i)(?:^|\s)[\w-]*(?:article|story)(?:-|_|__)?(?:body|text)(?:\s|$|--|__)")
SIBLING_LEVELS = 4                 # how far up from the extracted paragraphs repeated containers are looked for
ARTICLE_TYPES = re.compile(r"Article|BlogPosting|Report|NewsArticle")
BODY_KEYS = re.compile(r"(?i)articleBody|body|bodyText|content|text|html|story")
MIN_PARAGRAPH_CHARS = 80          # shorter <p> are captions, credits, labels and links, not paragraphs the check counts
NAME_NOISE = re.compile(r"^(by|par|von|door|por)\s+|,?\s+\b(phd|md|ma|msc|mph|rn|jr\.?)$", re.I)


def canonical_url(url: str, declared: str | None = None) -> str:
    """`declared` (rel=canonical, og:url) wins when it stays on the same site; tracking parameters
    (utm_*, fbclid, gclid, ...) and fragments go; scheme and host are lower-cased."""
    if declared and declared.startswith(("http://", "https://")) and _site(declared) == _site(url):
        return spelled(declared) or spelled(url) or url
    return spelled(url) or url


def _site(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.").removeprefix("m.").removeprefix("amp.")


def parse_article(data: bytes, url: str, content_type: str | None = None) -> dict:
    """One page -> one article record (see the module docstring)."""
    record = {"url": url, "canonical_url": canonical_url(url), "title": "", "authors": [], "published": None,
              "site_name": "", "language": "", "text": "", "status": "extracted", "reason": ""}
    if len(data) > MAX_PAGE_BYTES:
        return _link_only(record, f"page too large to extract ({len(data) / 2**20:.1f} MiB)")
    page = _decoded(data, content_type)
    if not page.strip():
        return _link_only(record, "empty page")
    tree = trafilatura.load_html(page)
    if tree is None:
        return _link_only(record, "not HTML: no document could be parsed from the page")
    record["language"] = _language(tree)
    structured = _structured_body(tree)
    _drop_page_furniture(tree)
    document = trafilatura.bare_extraction(tree, url=url, include_comments=False, with_metadata=True,
                                           date_extraction_params=DATE_SEARCH)
    found = document.as_dict() if document is not None else {}
    site_name = folded(found.get("sitename"))
    record.update(title=_without_site_name(folded(found.get("title")), site_name, url),
                  authors=_authors(found.get("author"), page),
                  published=_iso_date(found.get("date")), site_name=site_name,
                  canonical_url=canonical_url(url, found.get("url")))
    text = _without_calls_to_action(_completed(tree, found.get("text") or ""))
    if structured and len(structured) > max(2 * len(text), MIN_ARTICLE_CHARS):
        text = structured  # the markup held a caption or a teaser; the page's data holds the article
    text = _without_repeats(text, record["title"], _standfirst(tree))
    missing = _unaccounted(tree, text, structured)
    record["text"] = text
    if len(text) >= MIN_ARTICLE_CHARS and not (PAYWALL.search(text) and len(text) < 1500):
        if missing:
            record.update(status="partial", reason="; ".join(missing))
        return record
    for pattern, reason in ((PAYWALL, "paywall: only a teaser is readable"),
                            (CONSENT, "consent wall: the page shows a cookie notice instead of the article"),
                            (SCRIPT_ONLY, "script-only page: the article is drawn by JavaScript")):
        if pattern.search(text) or pattern.search(page[:WALL_SEARCH_CHARS]):  # the wall is in the page, not the text
            return _link_only(record, reason)
    return _link_only(record, f"too little text for an article ({len(text)} characters)")


def _iso_date(value: str | None) -> str | None:
    """trafilatura gives the publication day (YYYY-MM-DD); anything else is no date."""
    try:
        return date.fromisoformat(value[:10]).isoformat() if value else None
    except ValueError:
        return None


def _link_only(record: dict, reason: str) -> dict:
    record.update(status="link-only", reason=reason)
    return record


def _decoded(data: bytes, content_type: str | None) -> str:
    """The HTTP charset, when declared and known, wins; otherwise trafilatura's detection decides."""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.I)
    if match:
        try:
            return data.decode(match.group(1), errors="replace")
        except LookupError:
            pass
    return trafilatura.utils.decode_file(data)


def _without_calls_to_action(text: str) -> str:
    kept = [p for p in text.split("\n") if not (len(p) < 300 and CALL_TO_ACTION.search(p.strip()))]
    return "\n".join(kept).strip()


def _authors(value: str | None, page: str = "") -> list[str]:
    """Names of a byline: 'By' and degrees dropped, form labels ('Username') never a name, and a
    month name that the page shows followed by a day or year ('Dana Reyes May 5') left to the date."""
    names = []
    for name in re.split(r";|\band\b|&", value or ""):
        name = NAME_NOISE.sub("", folded(name)).strip(" ,")
        name = FORM_LABELS.sub("", name).strip(" ,:|")
        name = TRAILING_DATE_WORD.sub("", name).strip(" ,|")
        month = TRAILING_MONTH.search(name)
        if month:  # 'Dana Reyes May' when the page reads 'Dana Reyes | May 5, 2025'; 'Theresa May' stays
            before, word = name[:month.start()].strip(" ,"), month.group(0).strip()
            if re.search(re.escape(before) + r"[\s,.|\u00b7\u2022\u2013\u2014-]*" + re.escape(word) +
                         r"[\s,.]*(?:\d{1,2}\b|\d{4}\b)", _page_text(page)):
                name = before
        if name and name not in names and len(name) < 80 and not FORM_LABELS.fullmatch(name):
            names.append(name)
    return names


def _page_text(page: str) -> str:
    """The page's words without its tags, white space folded (for looking a byline up)."""
    return folded(html.unescape(re.sub(r"<[^<>]*>", " ", page)))


def _without_site_name(title: str, site_name: str, url: str) -> str:
    """A title without the site's name after (or before) a separator: 'Story | Site',
    'Story - Site', 'Story — Site'; the site is og:site_name or the page's domain."""
    parts = TITLE_SEPARATOR.split(title)
    if len(parts) < 2:
        return title
    names = {_squashed(site_name)} if site_name else set()
    host = _site(url)
    names |= {_squashed(host), _squashed(host.split(".")[0]), _squashed(host.rsplit(".", 1)[0])}
    names.discard("")
    def is_site(part: str) -> bool:
        squashed = _squashed(part)
        return bool(squashed) and any(  # the name, shortened ('Example' of 'Example News') or with its TLD
            squashed == n or (len(n) > 3 and n.startswith(squashed) and len(squashed) >= 0.6 * len(n))
            or (len(n) > 3 and squashed.startswith(n) and len(squashed) - len(n) <= 4) for n in names)
    while len(parts) > 1 and is_site(parts[-1]):
        parts = parts[:-1]
    while len(parts) > 1 and is_site(parts[0]):
        parts = parts[1:]
    return TITLE_SEPARATOR.search(title) and _rejoined(title, parts) or title


def _rejoined(title: str, parts: list[str]) -> str:
    """The span of `title` from the first kept part to the last (its own separators kept)."""
    start = title.find(parts[0])
    end = title.rfind(parts[-1]) + len(parts[-1])
    return title[start:end].strip() if start >= 0 and end > start else " ".join(parts)


def _squashed(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower()).removeprefix("the").removeprefix("www")


# -- what the page's own structure says ------------------------------------------------------

def _drop_page_furniture(tree) -> None:
    """Sidebars ("Most popular", "Trending"), newsletter sign-up blocks and forms come out of
    the page before extraction; an element that holds most of the page's paragraphs never does."""
    paragraphs = len(tree.xpath("//p"))
    for element in tree.xpath("//*[@class or @id]"):
        if element.getparent() is None or not _furniture_named(element):
            continue
        if element.tag in ("html", "body", "main", "article") or len(element.xpath(".//p")) > paragraphs / 2:
            continue
        element.getparent().remove(element)
    for heading in tree.xpath("//h2|//h3|//h4"):
        if FURNITURE_HEADING.fullmatch(folded(heading.text_content())):
            box = heading.getparent()
            if box is not None and box.tag not in ("body", "main", "article") and \
                    len(box.xpath(".//p")) <= max(3, paragraphs / 4) and box.getparent() is not None:
                box.getparent().remove(box)
    for form in tree.xpath("//form"):
        if form.getparent() is not None and len(form.xpath(".//p")) <= 2:
            form.getparent().remove(form)


def _paragraphs(element, strict: bool = True) -> list:
    """The article-like paragraphs in `element`: <p> elements of some length, mostly not links,
    not captions; `strict`: also outside figures, asides and other furniture within `element`."""
    found = []
    for p in element.iter("p"):
        text = folded(p.text_content())
        if len(text) < MIN_PARAGRAPH_CHARS:
            continue
        links = sum(len(folded(a.text_content())) for a in p.iter("a"))
        if links > 0.5 * len(text) or CAPTION_TEXT.search(text):
            continue
        if not strict:
            found.append((p, text))
            continue
        ancestors = []
        for ancestor in p.iterancestors():
            if ancestor is element:
                break
            ancestors.append(ancestor)
        if any(a.tag in OUTSIDE_ARTICLE or NOT_BODY.search(f"{a.get('class', '')} {a.get('id', '')}")
               for a in [p, *ancestors]):
            continue
        found.append((p, text))
    return found


def _completed(tree, text: str) -> str:
    """`text` with the article paragraphs it left out of the page's own article structure put
    back in page order.

    The structure is the element that holds the extracted paragraphs and its sibling elements of
    the same kind (same tag and class: a body split over two `<div class="article-body">` with a
    figure between them, a newsletter's several `<article class="story">`), plus every element the
    page marks as its article body (`itemprop="articleBody"`, `article-body` classes). A paragraph
    of theirs that is not in the text is put back after the paragraph that precedes it."""
    lines = [line for line in text.split("\n")]
    have = {_key(line) for line in lines if line.strip()}
    found = [(p, t) for p, t in _paragraphs(tree, strict=False) if _key(t) in have]
    if not found:
        return text
    scope = _article_scope(tree, [p for p, _ in found])
    if not scope:
        return text
    others = _other_articles(tree, [p for p, _ in found])
    foreign = {_key(t) for block in others for _, t in _paragraphs(block, strict=False)}
    foreign |= {_key(h.text_content()) for block in others for h in block.iter("h1")}
    if foreign:  # another article's headline and paragraphs are not this one's
        lines = [line for line in lines if _key(line) not in foreign]
        text = "\n".join(lines)
        have = {_key(line) for line in lines if line.strip()}
    wanted = [(p, t) for element in scope for p, t in _paragraphs(element)
              if not any(o is p or o in p.iterancestors() for o in others)]
    whole = _key(text)
    missing = [t for _, t in wanted if _key(t) not in have and not _inside_text(t, whole)]
    if not missing or sum(map(len, missing)) < MIN_PARAGRAPH_CHARS:
        return text
    # put each missing paragraph after the line of the paragraph that precedes it on the page
    positions = {_key(line): index for index, line in enumerate(lines)}
    order = {element: number for number, element in enumerate(tree.iter())}
    inserted: dict[int, list[str]] = {}
    anchor = -1
    for _, paragraph in sorted(wanted, key=lambda pair: order.get(pair[0], 0)):
        key = _key(paragraph)
        if key in positions:
            anchor = positions[key]
        elif not _inside_text(paragraph, whole):
            inserted.setdefault(anchor, []).append(paragraph)
    result = inserted.get(-1, [])[:]
    for index, line in enumerate(lines):
        result.append(line)
        result.extend(inserted.get(index, []))
    return "\n".join(result).strip()


def _unaccounted(tree, text: str, structured: str) -> list[str]:
    """Why `text` may hold only part of the page: article paragraphs of the page's declared body
    containers (`itemprop="articleBody"`, `article-body` classes) that it lacks, a paywall notice
    in it, or structured data (JSON-LD `articleBody`) much longer than it. [] when the page's
    structure agrees."""
    reasons, whole = [], _key(text)
    bodies = _declared_bodies(tree)
    marked = set(bodies)
    outermost = [b for b in bodies if not any(other in marked for other in b.iterancestors())]
    lacking = [t for body in outermost if not _furniture(body) for _, t in _paragraphs(body)
               if not _inside_text(t, whole)]
    lacking = list(dict.fromkeys(lacking))
    if len(lacking) >= 2 and sum(map(len, lacking)) >= 0.1 * max(len(text), 1):
        reasons.append(f"{len(lacking)} paragraph(s) of the page's article body are not in the text "
                       f"(first: {lacking[0][:80]!r})")
    if PAYWALL.search(text):
        reasons.append("paywall: the page offers the rest of the article to subscribers")
    if structured and len(structured) > 1.5 * len(text) and not _inside_text(structured[:200], whole):
        reasons.append(f"the page's structured data holds {len(structured)} characters of article text, "
                       f"the extracted text {len(text)}")
    return reasons


def _other_articles(tree, paragraphs: list) -> list:
    """Blocks that hold another article (a next story loaded below this one): around every <h1>
    after the article's own (the last before its first extracted paragraph, else the page's
    first), the largest element
    that holds none of the article's paragraphs (those before that <h1>), when it holds two
    paragraphs or more (an <h1> used as a heading inside the body is no other article)."""
    order = {element: number for number, element in enumerate(tree.iter())}
    first = min(order.get(p, 0) for p in paragraphs)
    headings = list(tree.iter("h1"))
    own = max((h for h in headings if order.get(h, 0) < first), key=lambda h: order.get(h, 0),
              default=headings[0] if headings else None)  # a next story's <h1> never comes first
    later = [h for h in headings if h is not own and order.get(h, 0) > first]
    cutoff = min((order.get(h, 0) for h in later), default=None)
    mine = {p for p in paragraphs if cutoff is None or order.get(p, 0) < cutoff}
    blocks = []
    for heading in later:
        block = heading
        for ancestor in heading.iterancestors():
            if ancestor.tag in ("body", "html") or any(p in mine for p in ancestor.iter("p")):
                break
            block = ancestor
        if len(_paragraphs(block, strict=False)) >= 2:
            blocks.append(block)
    return blocks


def _article_scope(tree, paragraphs: list) -> list:
    """The elements the article is in (see `_completed`); [] when the page shows no such structure."""
    counts: Counter = Counter()
    for p in paragraphs:
        for ancestor in p.iterancestors():
            counts[ancestor] += 1
    holder = None
    for p in paragraphs:  # the deepest element holding most of the extracted paragraphs
        for ancestor in p.iterancestors():
            if counts[ancestor] >= 0.8 * len(paragraphs):
                holder = ancestor
                break
        if holder is not None:
            break
    if holder is None or holder.tag in ("html", "body"):
        return []
    scope = [holder]
    level = holder
    for _ in range(SIBLING_LEVELS):  # the holder, or an element it is in, repeated as siblings of its kind
        parent = level.getparent()
        if parent is None or level.tag in ("html", "body", "main"):
            break
        if level.get("class") or level.tag == "article":
            # a sibling with an <h1> of its own is another article (a next story loaded below), and
            # one with fewer than two paragraphs a teaser
            siblings = [sibling for sibling in parent if sibling is not level and sibling.tag == level.tag
                        and sibling.get("class") == level.get("class") and not _furniture(sibling)
                        and not sibling.xpath(".//h1") and len(_paragraphs(sibling)) >= 2]
            if siblings:
                scope += siblings
                break
        level = parent
    for body in _declared_bodies(tree):
        if not any(body is e or e in body.iterancestors() for e in scope) and not _furniture(body):
            scope.append(body)
    return scope


def _declared_bodies(tree) -> list:
    """The elements a page marks as its article body: `itemprop="articleBody"`, or a class such as
    `article-body`, `article__body`, `c-article-body`, `story-text`."""
    return [e for e in tree.xpath("//*[@class or @itemprop]")
            if e.get("itemprop") == "articleBody" or ARTICLE_BODY_CLASS.search(e.get("class") or "")]


def _furniture(element) -> bool:
    for e in [element, *element.iterancestors()]:
        if e.tag in OUTSIDE_ARTICLE or _furniture_named(e) or COMMENTS.search(f"{e.get('class', '')} {e.get('id', '')}"):
            return True
    return False


def _furniture_named(element) -> bool:
    return any(FURNITURE.fullmatch(token) for token in f"{element.get('class', '')} {element.get('id', '')}".split())


def _key(text: str) -> str:
    return re.sub(r"\W+", "", text.lower())


def _inside_text(paragraph: str, whole: str) -> bool:
    """Whether `paragraph` is in the text whose `_key` is `whole`."""
    return _key(paragraph) in whole


def _standfirst(tree) -> str:
    values = tree.xpath("//meta[@name='description']/@content | //meta[@property='og:description']/@content")
    return folded(values[0]) if values else ""


def _without_repeats(text: str, title: str, standfirst: str) -> str:
    """The text with the headline or the standfirst that the page shows again in the body kept
    once, where it first appears (other repeated lines, such as list items, stay)."""
    seen, kept = set(), []
    repeatable = {_key(title), _key(standfirst)}
    for line in text.split("\n"):
        key = _key(line)
        if key and key in seen and key in repeatable:
            continue
        seen.add(key)
        kept.append(line)
    return "\n".join(kept).strip()


def _structured_body(tree) -> str:
    """The article text a page carries as data: JSON-LD `articleBody` (or `text`) of an
    Article/NewsArticle/BlogPosting, or the longest prose string in an app-state script
    (`__NEXT_DATA__`, `__INITIAL_STATE__`, ...); '' when there is none."""
    best = ""
    for script in tree.xpath("//script[@type='application/ld+json']"):
        for item in _json_items(script.text or ""):
            if isinstance(item, dict) and ARTICLE_TYPES.search(str(item.get("@type", ""))):
                body = item.get("articleBody") or item.get("text")
                if isinstance(body, str) and len(body) > len(best):
                    best = body
    for script in tree.xpath("//script[@id='__NEXT_DATA__' or @type='application/json' or "
                             "contains(text(), '__INITIAL_STATE__') or contains(text(), '__PRELOADED_STATE__')]"):
        source = script.text or ""
        start = source.find("{")
        for item in _json_items(source[start:].rstrip().rstrip(";") if start >= 0 else ""):
            for body in _prose_strings(item):
                if len(body) > len(best):
                    best = body
    return _as_paragraphs(best) if best else ""


def _json_items(source: str) -> list:
    try:
        data = json.loads(source)
    except (ValueError, RecursionError):
        return []
    items = data if isinstance(data, list) else [data]
    for item in list(items):
        if isinstance(item, dict) and isinstance(item.get("@graph"), list):
            items += item["@graph"]
    return items


def _prose_strings(data, depth: int = 0):
    """Long strings under body-like keys of an app's state."""
    if depth > 40:
        return
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str):
                if BODY_KEYS.fullmatch(key) and len(value) >= MIN_ARTICLE_CHARS and value.count(" ") > 40:
                    yield value
            else:
                yield from _prose_strings(value, depth + 1)
    elif isinstance(data, list):
        for value in data:
            yield from _prose_strings(value, depth + 1)


def _as_paragraphs(body: str) -> str:
    """Structured-data text (plain, or HTML paragraphs) as the text's lines."""
    if "<" in body and re.search(r"</?(p|br|div)\b", body, re.I):
        body = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</h\d>", "\n", body)
        body = html.unescape(re.sub(r"<[^<>]*>", "", body))
    return "\n".join(folded(line) for line in body.splitlines() if folded(line))


def _language(tree) -> str:
    """The page's own declaration: <html lang>, Content-Language, og:locale."""
    candidates = tree.xpath("/html/@lang | /html/@xml:lang",
                            namespaces={"xml": "http://www.w3.org/XML/1998/namespace"})
    candidates += tree.xpath("//meta[translate(@http-equiv,'CONTENTLANGUAGE','contentlanguage')"
                             "='content-language']/@content | //meta[@property='og:locale']/@content")
    for value in candidates:
        value = value.strip().replace("_", "-")
        if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", value):
            return value.split("-")[0].lower()
    return ""




def token_f1(extracted: str, reference: str) -> float:
    """Bag-of-words F1 of an extracted text against a human-annotated body (how extraction is
    measured in benchmarks/ and the conformance tests)."""
    ours, theirs = Counter(re.findall(r"\w+", extracted.lower())), Counter(re.findall(r"\w+", reference.lower()))
    overlap = sum((ours & theirs).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(ours.values()), overlap / sum(theirs.values())
    return 2 * precision * recall / (precision + recall)
