"""JATS (PMC / PLOS / OAI-PMH) article XML -> figures with captions, citing paragraphs and article metadata.

Figures in open-access articles are the richest image-text source for the corpus: the caption describes the
image, and the body paragraphs that cite the figure add clinical context. Parsing is deliberately tolerant
(real files carry DTD references we never fetch, wrappers, namespaces, and sometimes broken markup) but never
resolves entities or touches the network, so a hostile file cannot read local files or hang a worker.
Speed comes from parsing only the slices the corpus reads (jats_slice.py) and from C-level text extraction:
block elements get a space at both ends once (_pad_blocks), then text is one `tostring(method="text")`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lxml import etree

from pipeline.errors import ItemError
from pipeline.formats.encoding import UndecodableText, decode_text
from pipeline.formats.jats_slice import slice_article

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
ALI_LICENSE_REF = "{http://www.niso.org/schemas/ali/1.0/}license_ref"
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
    mesh: list[str] = field(default_factory=list)  # MeSH terms from kwd-group-type="MESH"


def _norm(text: str) -> str:
    return " ".join(text.split())  # the same whitespace as \\s, several times faster than re.sub


def _pad_blocks(root: etree._Element) -> None:
    """Put a space at both ends of every block element's text, once per tree, so that `itertext()` (C
    speed) no longer glues blocks ("findings.a Erythematous"); the tree is ours and is thrown away."""
    for el in root.iter(*_BLOCKS):
        el.text = " " + (el.text or "")
        el.tail = " " + (el.tail or "")


def _text(el: etree._Element | None) -> str:
    """Text of `el` with inline markup kept and whitespace collapsed (blocks are spaced by _pad_blocks)."""
    if el is None:
        return ""
    if len(el) == 0:  # a leaf (ids, keywords, labels): no iterator needed
        return _norm(el.text or "")
    return _norm("".join(el.itertext()))


_OPTS = {"resolve_entities": False, "load_dtd": False, "no_network": True, "huge_tree": True}
_STRICT = etree.XMLParser(**_OPTS)  # parsers are reusable in one thread; creating one costs ~10 us


def _drop_entities(root: etree._Element) -> None:
    """Entity references the parser refused to resolve (an external `&xxe;`, or `&nbsp;` without the DTD)
    would stay in captions as literal `&name;` text: each becomes a space (text is whitespace-normalised
    later), so nothing of an entity's name or target reaches the corpus."""
    for ent in list(root.iter(etree.Entity)):
        parent = ent.getparent()
        if parent is None:
            continue
        text, prev = " " + (ent.tail or ""), ent.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + text
        else:
            parent.text = (parent.text or "") + text
        parent.remove(ent)


_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")


def _as_declared(data: bytes) -> bytes:
    """Bytes lxml can read as they declare themselves. A file that says (or implies) UTF-8 but holds other
    bytes (Latin-1 from an old export) would parse in recovery mode with U+FFFD in place of every accented
    letter: it is decoded with the encoding charset-normalizer finds and re-encoded as UTF-8, or rejected
    `malformed_xml` (binary or corrupted bytes are not well-formed XML). Other declared encodings are lxml's."""
    declared = _DECLARED.match(data[:300])
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return data
    try:
        text, encoding = decode_text(data)
    except UndecodableText as exc:
        raise ItemError("malformed_xml", f"{exc}: binary or corrupted") from exc
    if encoding == "utf-8":
        return data
    if declared:
        text = text.replace(declared.group(1).decode(), "UTF-8", 1)
    return text.encode("utf-8")


def _parse(data: bytes) -> tuple[etree._Element, bool]:
    """Strict parse first; on failure lxml's recover mode. Returns (root, recovered)."""
    try:
        return etree.fromstring(data, _STRICT), False
    except etree.XMLSyntaxError as exc:
        strict_error = str(exc)
    try:
        root = etree.fromstring(data, etree.XMLParser(recover=True, **_OPTS))
    except etree.XMLSyntaxError as exc:
        raise ItemError("malformed_xml", f"{strict_error}; recovery failed: {exc}") from exc
    if root is None:
        raise ItemError("malformed_xml", f"{strict_error}; nothing recoverable")
    return root, True


def _strip_namespaces(article: etree._Element) -> None:
    """JATS 1.3 in OAI-PMH is namespaced; drop element namespaces (attributes such as xlink:href stay)."""
    for el in article.xpath("descendant-or-self::*[namespace-uri() != '']"):  # the selection runs in C
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
    lic = None if meta is None else next((x for x in meta.iter("license")
                                          if x.getparent() is not None and x.getparent().tag == "permissions"), None)
    if lic is None:
        return None
    if lic.get(XLINK_HREF):
        return lic.get(XLINK_HREF, "").strip()
    ref = next(lic.iter(ALI_LICENSE_REF, "license_ref"), None)  # ali: prefix kept by the targeted parse
    if ref is not None and _text(ref):
        return _text(ref)
    for link in lic.iter("ext-link", "uri"):
        url = (link.get(XLINK_HREF) or _text(link)).strip()
        if "creativecommons.org" in url:
            return url
    return lic.get("license-type") or _text(lic) or None


def _ids(meta: etree._Element | None) -> dict[str, str]:
    ids: dict[str, str] = {}
    for aid in [] if meta is None else meta.iterchildren("article-id"):
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


def _child(el: etree._Element, tag: str) -> etree._Element | None:
    return next(el.iterchildren(tag), None)  # find(tag) goes through ElementPath, in Python


def _figures(article: etree._Element, cites: etree._Element) -> list[JatsFigure]:
    """Figures under `article` in document order, with the paragraphs under `cites` that cite them (floats
    are cut out of `cites` once the captions are read: a paragraph's text is its own prose)."""
    figs = list(article.iter("fig"))
    used = {f.get("id") for f in figs if f.get("id")}
    out: list[JatsFigure] = []
    by_id: dict[str, list[JatsFigure]] = {}
    for n, fig in enumerate(figs, 1):
        fig_id = fig.get("id") or f"fig{n}"
        while fig_id in used and not fig.get("id"):
            fig_id += "_"
        used.add(fig_id)
        caption = _text(_child(fig, "caption"))
        parent = fig.getparent()
        if not caption and parent is not None and parent.tag == "fig-group":
            caption = _text(_child(parent, "caption"))  # panels of a group often share the group's caption
        label = _text(_child(fig, "label")).rstrip(".:").strip() or None  # "Figure 1." -> "Figure 1"
        hrefs = [g.get(XLINK_HREF, "").strip() for g in fig.iter("graphic") if g.get(XLINK_HREF, "").strip()]
        jf = JatsFigure(fig_id, label, caption, hrefs, [])
        out.append(jf)
        by_id.setdefault(fig_id, []).append(jf)
    for group in article.iter("fig-group"):  # a citation of the group cites each of its figures
        if group.get("id"):
            by_id.setdefault(group.get("id", ""), []).extend(
                f for f, el in zip(out, figs, strict=True) if el.getparent() is group)
    etree.strip_elements(cites, *_FLOATS, with_tail=False)
    _attach_citations(cites, by_id)
    return out


def _attach_citations(article: etree._Element, by_id: dict[str, list[JatsFigure]]) -> None:
    """Paragraph text (floats removed) for every `<p>` holding an xref whose rid list names a figure."""
    seen: set[tuple[int, str]] = set()  # (figure, paragraph text): lxml proxies have no stable id()
    texts: dict[etree._Element, str] = {}  # a paragraph citing several figures is read once
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
        text = texts.get(para)
        if text is None:
            text = texts[para] = _text(para)
        for fig in targets:
            key = (id(fig), text)
            if text and key not in seen:
                seen.add(key)
                fig.cited_paragraphs.append(text)


def parse_jats(data: bytes, targeted: bool = True) -> JatsArticle:
    """Parse one JATS document (bare `<article>`, `<pmc-articleset>` or an OAI-PMH GetRecord response).

    `targeted` parses only the slices the corpus reads (jats_slice.py, ~6x faster); a document the slicer
    declines or whose slices are not well-formed goes through the whole-tree parse, strict then recovering,
    which is also what `targeted=False` does. Both give the same result on a well-formed article."""
    data = _as_declared(data)
    sliced = slice_article(data) if targeted else None
    if sliced is not None:
        try:
            art = etree.fromstring(sliced, _STRICT)
        except etree.XMLSyntaxError:
            pass  # a broken part: the whole tree decides (strict, then recovery)
        else:
            _drop_entities(art)
            for part in (art[1], art[2], *art[0].iter("permissions")):  # the front needs no padding
                _pad_blocks(part)  # beyond the licence text
            return _article(art, art[1], art[2], recovered=False)  # front, x-floats, x-cites
    root, recovered = _parse(data)
    _drop_entities(root)
    found = root.xpath("descendant-or-self::*[local-name()='article'][1]")
    if not found:
        raise ItemError("malformed_xml", f"no <article> element (root is <{etree.QName(root).localname}>)")
    article = found[0]
    _strip_namespaces(article)
    _pad_blocks(article)
    return _article(article, article, article, recovered)


def _article(article: etree._Element, floats: etree._Element | None, cites: etree._Element | None,
             recovered: bool) -> JatsArticle:
    """The article from a tree whose blocks are padded (_pad_blocks)."""
    meta = next(article.iter("article-meta"), None)  # iter() runs in C; ElementPath find() in Python
    title = _text(None if meta is None else next(meta.iter("article-title"), None))
    licence, ids = _licence(meta), _ids(meta)
    figures = _figures(article if floats is None else floats, article if cites is None else cites)
    if recovered and not figures:
        # a recovered tree without figures gives the corpus nothing and usually means a broken file
        raise ItemError("malformed_xml", "strict parse failed; the recovered tree has no figure")
    jmeta = next(article.iter("journal-meta"), None)
    journal = None
    if jmeta is not None:
        jt = next(jmeta.iter("journal-title"), None)
        jt = _first(jmeta, "journal-id[@journal-id-type='nlm-ta']", "journal-id") if jt is None else jt
        journal = _text(jt) or None
    keywords: list[str] = []
    mesh: list[str] = []
    for group in [] if meta is None else meta.iter("kwd-group"):
        # PMC deposits carry MeSH as kwd-group-type="MESH" (or "mesh-terms"); PubMed XML is not an article
        into = mesh if "mesh" in (group.get("kwd-group-type") or "").lower() else keywords
        for kwd in group.iter("kwd"):
            word = _text(kwd)
            if word and word not in into:
                into.append(word)
    return JatsArticle(
        pmcid=ids.get("pmcid"), pmid=ids.get("pmid"), doi=ids.get("doi"), title=title,
        article_type=article.get("article-type"), licence=licence, journal=journal,
        keywords=keywords, figures=figures, recovered=recovered, mesh=mesh,
    )


@lru_cache(maxsize=8)
def _listing(folder: str, mtime_ns: int) -> dict[str, str]:
    """Lower-cased file names of a folder, read once per folder version: PMC bulk folders hold every
    article's figures side by side (tens of thousands of files), and listing them per figure made
    preprocessing quadratic in the folder size."""
    with os.scandir(folder) as entries:
        return {e.name.lower(): e.name for e in entries if e.is_file()}


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
        try:
            names = _listing(str(folder), folder.stat().st_mtime_ns)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in wanted:
            if name in names:
                return folder / names[name]
    return None
