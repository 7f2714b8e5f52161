"""JATS (PMC / PLOS / OAI-PMH) article XML -> figures with captions, citing paragraphs and article metadata.

Figures in open-access articles are the richest image-text source for the corpus: the caption describes the
image, and the body paragraphs that cite the figure add clinical context. Parsing is deliberately tolerant
(real files carry DTD references we never fetch, wrappers, namespaces, and sometimes broken markup) but never
resolves entities or touches the network, so a hostile file cannot read local files or hang a worker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from pipeline.errors import ItemError

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
GRAPHIC_EXTS = ("", ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff")
# Elements whose text is a separate block; joining them without a space glues words
# ("findings.a Erythematous").
_BLOCKS = frozenset({"title", "p", "list", "list-item", "def-item", "term", "def", "sec", "disp-quote",
                     "caption", "label", "table-wrap", "fig", "boxed-text", "disp-formula", "break"})
# Floats nested inside a <p> are not part of the paragraph's prose (their caption is captured separately).
_FLOATS = frozenset({"fig", "fig-group", "table-wrap", "table-wrap-group", "supplementary-material"})
_WS = re.compile(r"\s+")


@dataclass
class JatsFigure:
    """One `<fig>`: caption without its label, image hrefs as written in the XML, and citing paragraphs."""

    fig_id: str
    label: str | None
    caption: str
    graphic_hrefs: list[str] = field(default_factory=list)
    cited_paragraphs: list[str] = field(default_factory=list)


@dataclass
class JatsArticle:
    """Article metadata needed for provenance/licence filtering plus its figures."""

    pmcid: str | None
    pmid: str | None
    doi: str | None
    title: str
    article_type: str | None
    licence: str | None
    journal: str | None
    keywords: list[str]
    figures: list[JatsFigure]
    recovered: bool  # the strict parse failed and lxml's recovery mode produced this tree


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _text(el: etree._Element | None, skip: frozenset[str] = frozenset()) -> str:
    """Text of `el` with block children separated by spaces, inline markup kept, `skip` subtrees dropped."""
    if el is None:
        return ""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if node.text and isinstance(node.tag, str):
            parts.append(node.text)
        for child in node:
            if isinstance(child.tag, str) and child.tag not in skip:
                block = child.tag in _BLOCKS
                if block:
                    parts.append(" ")
                walk(child)
                if block:
                    parts.append(" ")
            if child.tail:
                parts.append(child.tail)

    walk(el)
    return _norm("".join(parts))


def _parse(data: bytes) -> tuple[etree._Element, bool]:
    """Strict parse first; on failure lxml's recover mode. Returns (root, recovered)."""
    opts = {"resolve_entities": False, "load_dtd": False, "no_network": True, "huge_tree": True}
    try:
        return etree.fromstring(data, etree.XMLParser(**opts)), False
    except etree.XMLSyntaxError as exc:
        strict_error = str(exc)
    try:
        root = etree.fromstring(data, etree.XMLParser(recover=True, **opts))
    except etree.XMLSyntaxError as exc:
        raise ItemError("malformed_xml", f"{strict_error}; recovery failed: {exc}") from exc
    if root is None:
        raise ItemError("malformed_xml", f"{strict_error}; nothing recoverable")
    return root, True


def _strip_namespaces(article: etree._Element) -> None:
    """JATS 1.3 in OAI-PMH is namespaced; drop element namespaces (attributes such as xlink:href stay)."""
    for el in article.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = etree.QName(el).localname


def _first(el: etree._Element, *paths: str) -> etree._Element | None:
    for path in paths:
        found = el.find(path)
        if found is not None:
            return found
    return None


def _licence(meta: etree._Element | None) -> str | None:
    """license/@xlink:href, else the ali:license_ref URL, else the first creativecommons.org link in the
    licence text (Springer/BMC files carry only license-type="OpenAccess", which says nothing about reuse
    terms), else license-type, else the licence text."""
    lic = None if meta is None else meta.find(".//permissions/license")
    if lic is None:
        return None
    if lic.get(XLINK_HREF):
        return lic.get(XLINK_HREF, "").strip()
    ref = lic.xpath(".//*[local-name()='license_ref']")
    if ref and _text(ref[0]):
        return _text(ref[0])
    for link in lic.iter("ext-link", "uri"):
        url = (link.get(XLINK_HREF) or _text(link)).strip()
        if "creativecommons.org" in url:
            return url
    return lic.get("license-type") or _text(lic) or None


def _ids(meta: etree._Element | None) -> dict[str, str]:
    ids: dict[str, str] = {}
    for aid in [] if meta is None else meta.findall("article-id"):
        kind, value = (aid.get("pub-id-type") or "").lower(), _text(aid)
        if not value:
            continue
        if kind in ("pmc", "pmcid", "pmc-uid"):
            digits = re.sub(r"\D", "", value)
            if digits:
                ids.setdefault("pmcid", f"PMC{digits}")
        elif kind in ("pmid", "doi"):
            ids.setdefault(kind, value)
    return ids


def _figures(article: etree._Element) -> list[JatsFigure]:
    figs = article.findall(".//fig")
    used = {f.get("id") for f in figs if f.get("id")}
    out: list[JatsFigure] = []
    by_id: dict[str, list[JatsFigure]] = {}
    for n, fig in enumerate(figs, 1):
        fig_id = fig.get("id") or f"fig{n}"
        while fig_id in used and not fig.get("id"):
            fig_id += "_"
        used.add(fig_id)
        caption = _text(fig.find("caption"))
        parent = fig.getparent()
        if not caption and parent is not None and parent.tag == "fig-group":
            caption = _text(parent.find("caption"))  # panels of a group often share the group's caption
        label = _text(fig.find("label")).rstrip(".:").strip() or None  # "Figure 1." -> "Figure 1"
        hrefs = [g.get(XLINK_HREF, "").strip() for g in fig.iter("graphic") if g.get(XLINK_HREF, "").strip()]
        jf = JatsFigure(fig_id, label, caption, hrefs, [])
        out.append(jf)
        by_id.setdefault(fig_id, []).append(jf)
    for group in article.iter("fig-group"):  # a citation of the group cites each of its figures
        if group.get("id"):
            by_id.setdefault(group.get("id", ""), []).extend(
                f for f, el in zip(out, figs, strict=True) if el.getparent() is group)
    _attach_citations(article, by_id)
    return out


def _attach_citations(article: etree._Element, by_id: dict[str, list[JatsFigure]]) -> None:
    """Paragraph text (floats removed) for every `<p>` holding an xref whose rid list names a figure."""
    seen: set[tuple[int, str]] = set()  # (figure, paragraph text): lxml proxies have no stable id()
    for xref in article.iter("xref"):
        targets = [f for rid in (xref.get("rid") or "").split() for f in by_id.get(rid, [])]
        if not targets or xref.get("ref-type") not in (None, "fig"):
            continue
        ancestors = list(xref.iterancestors())
        if any(a.tag in ("fig", "fig-group", "caption") for a in ancestors):
            continue  # a citation inside a caption is part of the caption, not context
        para = next((a for a in ancestors if a.tag == "p"), None)
        if para is None:
            continue
        text = _text(para, skip=_FLOATS)
        for fig in targets:
            key = (id(fig), text)
            if text and key not in seen:
                seen.add(key)
                fig.cited_paragraphs.append(text)


def parse_jats(data: bytes) -> JatsArticle:
    """Parse one JATS document (bare `<article>`, `<pmc-articleset>` or an OAI-PMH GetRecord response)."""
    root, recovered = _parse(data)
    found = root.xpath("descendant-or-self::*[local-name()='article'][1]")
    if not found:
        raise ItemError("malformed_xml", f"no <article> element (root is <{etree.QName(root).localname}>)")
    article = found[0]
    _strip_namespaces(article)
    meta = _first(article, "front/article-meta", ".//article-meta")
    title = _text(None if meta is None else meta.find("title-group/article-title"))
    figures = _figures(article)
    if recovered and not figures:
        # a recovered tree without figures gives the corpus nothing and usually means a broken file
        raise ItemError("malformed_xml", "strict parse failed; the recovered tree has no figure")
    ids = _ids(meta)
    jmeta = _first(article, "front/journal-meta", ".//journal-meta")
    journal = None
    if jmeta is not None:
        jt = _first(jmeta, ".//journal-title", "journal-id[@journal-id-type='nlm-ta']", "journal-id")
        journal = _text(jt) or None
    keywords: list[str] = []
    for kwd in [] if meta is None else meta.iterfind(".//kwd-group/kwd"):
        word = _text(kwd)
        if word and word not in keywords:
            keywords.append(word)
    return JatsArticle(
        pmcid=ids.get("pmcid"), pmid=ids.get("pmid"), doi=ids.get("doi"), title=title,
        article_type=article.get("article-type"), licence=_licence(meta), journal=journal,
        keywords=keywords, figures=figures, recovered=recovered,
    )


def resolve_graphic(xml_path: Path, href: str) -> Path | None:
    """Find the image file a graphic href names. PMC hrefs usually omit the extension ("ehp-116-1694f1") and
    PLOS ones are DOIs ("info:doi/10.1371/journal.pone.0147124.g001"), so only the last path component is
    used (which also keeps `..` out), tried as-is and with common image extensions, case-insensitively,
    next to the XML file and in a folder named like the XML stem (the layout of unpacked PMC OA packages)."""
    base = href.strip().replace("\\", "/").rsplit("/", 1)[-1]
    if base.startswith("info:doi"):
        base = base.split(":", 1)[-1]
    if not base or base in (".", ".."):
        return None
    wanted = [(base + ext).lower() for ext in GRAPHIC_EXTS]
    for folder in (xml_path.parent, xml_path.parent / xml_path.stem):
        if not folder.is_dir():
            continue
        names = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
        for name in wanted:
            if name in names:
                return names[name]
    return None
