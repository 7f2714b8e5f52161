"""JATS parsing against real PMC / PLOS / OAI-PMH files (read in place) and small inline documents."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from lxml import etree

from pipeline.errors import ItemError
from pipeline.formats.jats import parse_jats, resolve_graphic

_DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"
FIXTURES = Path(os.environ.get("DERM_FIXTURES", str(_DEFAULT)))
JATS_DIR = FIXTURES / "jats"
JATS_FILES = sorted(p for p in JATS_DIR.rglob("*") if p.suffix in (".xml", ".nxml")) if JATS_DIR.is_dir() \
    else []
# Real NCBI responses in the folder that hold no <article> (PubMed citations, an esearch id list).
NOT_ARTICLES = {"pubmed-29768149.xml", "esearch1.xml", "pubmed1.xml"}
needs_fixtures = pytest.mark.skipif(not JATS_DIR.is_dir(),
                                    reason=f"real JATS fixtures not found at {JATS_DIR}")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _independent_figs(data: bytes) -> list[etree._Element]:
    """<fig> elements found without the module: a plain local-name() xpath over a recovering parse."""
    root = etree.fromstring(data, etree.XMLParser(recover=True, load_dtd=False, no_network=True,
                                                  resolve_entities=False, huge_tree=True))
    return list(root.xpath("//*[local-name()='fig']"))


@needs_fixtures
@pytest.mark.parametrize("path", JATS_FILES, ids=lambda p: p.name)
def test_real_file(path: Path) -> None:
    data = path.read_bytes()
    if path.name in NOT_ARTICLES:
        with pytest.raises(ItemError) as err:
            parse_jats(data)
        assert err.value.reason == "malformed_xml"
        return
    article = parse_jats(data)
    assert article.title and not article.recovered
    assert article == parse_jats(data, targeted=False)  # the sliced parse reads exactly what the tree holds
    n_regex = len(re.findall(rb"<fig[\s>/]", data))
    figs = _independent_figs(data)
    assert len(article.figures) == n_regex == len(figs)
    assert len({f.fig_id for f in article.figures}) == len(article.figures)
    for ours, fig in zip(article.figures, figs, strict=True):
        caption = next((c for c in fig if etree.QName(c).localname == "caption"), None)
        raw = _norm("".join(caption.itertext())) if caption is not None else ""
        assert bool(ours.caption) == bool(raw)
        assert ours.graphic_hrefs, ours.fig_id
        if caption is None:
            continue
        kids = {etree.QName(c).localname: c for c in reversed(list(caption))}  # first of each kind
        if "title" in kids and "p" in kids:
            title, para = _norm("".join(kids["title"].itertext())), _norm("".join(kids["p"].itertext()))
            if title and para:
                assert f"{title} {para[:30]}" in ours.caption  # not "findings.a Erythematous"
        for para in ours.cited_paragraphs:
            assert para and ours.caption[:60] not in para  # context is body text, not the caption again


# Read by hand from the files: figure labels, and the opening words of the first and last captions.
PINNED = {
    "PMC6500000.xml": (["Fig. 1", "Fig. 2", "Fig. 3"], "Clinical response following initiation of avelumab",
                       "HPV-specific T-cell responses and viral burden"),
    "PMC10777901.xml": (["Figure 1"], "Presurgical 18F-FDG PET/CT results of 3 patients",
                        "Presurgical 18F-FDG PET/CT results of 3 patients"),
    "ehp-116-1694.nxml": (["Figure 1", "Figure 2", "Figure 3"], "Exposure to PBDE-47 depressed circulating",
                          "Dietary PBDE-47 exposure elevated mRNA levels"),
    "journal.pntd.0001041.xml": ([f"Figure {n}" for n in range(1, 6)], "CONSORT flow diagram for the pilot",
                                 "Time to requiring first course of additional prednisolone."),
    "pone.0000217.nxml": (["Figure 1", "Figure 2", "Figure 3"], "Fisher's geometric model in two-dimensional",
                          "Equilibrium drift load as a function of population size"),
    "pone.0046493.nxml": ([f"Figure {n}" for n in range(1, 5)], "Chemical structure of inhibitors. Chemical",
                          "Antimycobacterial activity of MmPPOX and THL."),
    "1472-6831-8-11.nxml": ([], "", ""),
    "6605965a.nxml": ([], "", ""),
}


@needs_fixtures
@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_labels_and_captions(name: str) -> None:
    labels, first, last = PINNED[name]
    a = parse_jats((JATS_DIR / name).read_bytes())
    assert [f.label for f in a.figures] == labels
    if labels:
        assert a.figures[0].caption.startswith(first) and a.figures[-1].caption.startswith(last)
        assert all(f.cited_paragraphs for f in a.figures)  # every figure is cited in the body


@needs_fixtures
def test_pinned_bmc_article() -> None:
    a = parse_jats((JATS_DIR / "1471-2180-11-174.nxml").read_bytes())
    assert (a.pmcid, a.pmid, a.doi) == ("PMC3166277", "21810267", "10.1186/1471-2180-11-174")
    assert a.licence == "http://creativecommons.org/licenses/by/2.0"
    assert a.journal == "BMC Microbiology" and a.article_type == "research-article"
    f1 = a.figures[0]
    assert (f1.fig_id, f1.label, f1.graphic_hrefs) == ("F1", "Figure 1", ["1471-2180-11-174-1"])
    assert f1.caption.startswith("Schematic presentation of two models of holin hole formation. Holin ")
    assert len(f1.cited_paragraphs) == 3


@needs_fixtures
def test_pinned_oai_case_report() -> None:
    a = parse_jats((JATS_DIR / "PMC7500000.xml").read_bytes())  # namespaced JATS 1.3 inside OAI-PMH GetRecord
    assert (a.pmcid, a.pmid, a.doi) == ("PMC7500000", "32948182", "10.1186/s12920-020-00789-8")
    assert a.article_type == "case-report" and a.title == "Multiple paragangliomas: a case report"
    assert a.licence == "http://creativecommons.org/licenses/by/4.0/"  # from the text; type is "OpenAccess"
    assert "Multiple paragangliomas" in a.keywords
    assert [f.label for f in a.figures] == ["Fig. 1", "Fig. 2"]
    assert a.figures[0].caption.startswith("Computed tomography of the patient's head and neck before")
    assert a.figures[0].graphic_hrefs == ["12920_2020_789_Fig1_HTML"]
    assert len(a.figures[1].cited_paragraphs) == 2


@needs_fixtures
def test_pinned_plos_title_and_paragraph() -> None:
    a = parse_jats((JATS_DIR / "journal.pone.0147124.xml").read_bytes())
    assert a.pmcid is None and a.doi == "10.1371/journal.pone.0147124"
    assert a.licence == "http://creativecommons.org/licenses/by/4.0/"
    f1 = a.figures[0]
    assert f1.label == "Fig 1"
    assert f1.caption.startswith("Photograph of white Arbas Cashmere goat and paraffin sections of Cashmere "
                                 "goat skin stained with hematoxylin & eosin. A. Photograph of a white")
    b = parse_jats((JATS_DIR / "pntd.0002065.nxml").read_bytes())  # caption <p> cites its own figure
    assert b.figures[0].caption.startswith("Location of the study areas. Figure 1 shows the map")
    assert len(b.figures[0].cited_paragraphs) == 1
    assert b.figures[0].cited_paragraphs[0].startswith("Zambézia Province is located")


@needs_fixtures
def test_fig_inside_paragraph_not_in_context() -> None:
    a = parse_jats((JATS_DIR / "mds526.nxml").read_bytes())
    assert [f.label for f in a.figures] == ["Figure 1", "Figure 2"]  # "Figure 1." with the dot trimmed
    for fig in a.figures:
        assert fig.cited_paragraphs and all("Deprivation inequalities in advanced" not in p
                                            for p in fig.cited_paragraphs)


INLINE = b"""<?xml version="1.0"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS" "JATS-archivearticle1.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="case-report">
<front><journal-meta><journal-title-group><journal-title>Derm Cases</journal-title></journal-title-group>
</journal-meta>
<article-meta><article-id pub-id-type="pmc">123</article-id><article-id pub-id-type="doi">10.1/x</article-id>
<title-group><article-title>A <italic>rare</italic> rash</article-title></title-group>
<permissions><license license-type="open-access"><license-p>CC BY</license-p></license></permissions>
<kwd-group><kwd>psoriasis</kwd><kwd>plaque</kwd></kwd-group></article-meta></front>
<body><p>Lesions are shown in <xref ref-type="fig" rid="f1 f2">Figures 1 and 2</xref>.</p>
<p>See the group (<xref ref-type="fig" rid="g1">Figure 3</xref>) and
<xref ref-type="fig" rid="fig5">it</xref>.</p>
<fig id="f1"><label>Figure 1</label><caption><title>Clinical findings.</title>
<p>Erythematous <bold>plaques</bold>
 on the <italic>elbow</italic>.</p></caption><graphic xlink:href="derm-1"/></fig>
<fig id="f2"><label>Figure 2</label><caption><p>Dermoscopy.</p></caption>
<graphic xlink:href="derm-2.jpg"/></fig>
<fig-group id="g1"><caption><p>Histology panels.</p></caption>
<fig id="g1a"><label>3A</label><graphic xlink:href="h-a"/></fig>
<fig id="g1b"><graphic xlink:href="h-b"/></fig>
</fig-group></body>
<floats-group><fig><label>Figure 5</label><caption><p>Float without id.</p></caption>
<graphic xlink:href="float5"/></fig></floats-group></article>"""


def test_inline_article() -> None:
    a = parse_jats(INLINE)
    assert (a.pmcid, a.doi, a.title, a.journal) == ("PMC123", "10.1/x", "A rare rash", "Derm Cases")
    assert a.licence == "open-access" and a.keywords == ["psoriasis", "plaque"] and not a.recovered
    ids = [f.fig_id for f in a.figures]
    assert ids == ["f1", "f2", "g1a", "g1b", "fig5"]  # fig-group members and the id-less float (5th fig)
    f1, f2, g1a, g1b, f5 = a.figures
    assert f1.caption == "Clinical findings. Erythematous plaques on the elbow."
    assert f1.graphic_hrefs == ["derm-1"]
    assert f1.cited_paragraphs == f2.cited_paragraphs == ["Lesions are shown in Figures 1 and 2."]
    assert g1a.caption == g1b.caption == "Histology panels."  # panels inherit the group caption
    assert g1a.cited_paragraphs == g1b.cited_paragraphs == ["See the group (Figure 3) and it."]
    assert f5.label == "Figure 5" and f5.cited_paragraphs == ["See the group (Figure 3) and it."]


def test_mesh_keywords_kept_apart() -> None:
    doc = INLINE.replace(b"</kwd-group>", b'</kwd-group><kwd-group kwd-group-type="MESH"><kwd>Psoriasis</kwd>'
                         b"<kwd>Skin Diseases</kwd></kwd-group>")
    a = parse_jats(doc)
    assert a.keywords == ["psoriasis", "plaque"] and a.mesh == ["Psoriasis", "Skin Diseases"]


def test_oai_pmh_wrapper() -> None:
    wrapped = (b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><GetRecord><record><metadata>'
               b'<article xmlns="https://jats.nlm.nih.gov/ns/archiving/1.3/" '
               b'xmlns:xlink="http://www.w3.org/1999/xlink"><front><article-meta>'
               b'<article-id pub-id-type="pmcid">PMC42</article-id>'
               b'<title-group><article-title>T</article-title>'
               b'</title-group></article-meta></front><body><fig id="x"><caption><p>Cap</p></caption>'
               b'<graphic xlink:href="img"/></fig></body></article>'
               b'</metadata></record></GetRecord></OAI-PMH>')
    a = parse_jats(wrapped)
    assert a.pmcid == "PMC42" and a.title == "T"
    assert [(f.fig_id, f.caption, f.graphic_hrefs) for f in a.figures] == [("x", "Cap", ["img"])]


def test_pmc_articleset_and_recovery() -> None:
    doc = (b"<pmc-articleset><article><front><article-meta><title-group><article-title>Ok &amp; fine"
           b"</article-title></title-group></article-meta></front><body><p>x &nbsp; y "
           b'<xref ref-type="fig" rid="f1">Figure 1</xref></p></body></article><article><front/></article>'
           b"</pmc-articleset>")
    assert parse_jats(doc).figures == []  # no figure: the broken paragraph is never read
    with pytest.raises(ItemError) as err:  # the whole tree: strict parse fails; recovered but no figure
        parse_jats(doc, targeted=False)
    assert err.value.reason == "malformed_xml"
    with_fig = doc.replace(b"</body>", b'<fig id="f1"><caption><p>A plaque.</p></caption></fig></body>')
    a = parse_jats(with_fig)  # the citing paragraph is broken: the whole tree is parsed, recovering
    assert a.recovered and a.title == "Ok & fine" and a.figures[0].caption == "A plaque."
    assert a.figures[0].cited_paragraphs == ["x y Figure 1"]  # the unresolved entity is dropped, not kept
    cut = INLINE[: INLINE.index(b'<fig id="f2"') + 9] + b"\x01 garbage <<<"  # truncated mid-tag after fig 1
    b = parse_jats(cut)
    assert b.recovered and b.title == "A rare rash" and b.figures[0].caption.startswith("Clinical findings. ")


def test_targeted_parse_reads_only_what_it_uses() -> None:
    """A broken paragraph that cites no figure costs the targeted parse nothing; the whole-tree parse has
    to recover. Everything else is the same."""
    doc = re.sub(rb"<!DOCTYPE[^>]*>", b"", INLINE).replace(b"<body>", b"<body><p>Unused &nbsp; prose.</p>")
    fast, full = parse_jats(doc), parse_jats(doc, targeted=False)
    assert not fast.recovered and full.recovered
    full.recovered = False
    assert fast == full


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><article><front><article-me\x00ta><tit \xff\xfe garbage <<<>>> &&&',
    b"",
    b"not xml at all",
    b"<eSearchResult><Count>1</Count></eSearchResult>",
])
def test_malformed(data: bytes) -> None:
    with pytest.raises(ItemError) as err:
        parse_jats(data)
    assert err.value.reason == "malformed_xml"


def test_resolve_graphic(tmp_path: Path) -> None:
    xml = tmp_path / "PMC1.nxml"
    xml.write_bytes(b"<article/>")
    (tmp_path / "derm-1.JPG").write_bytes(b"x")
    (tmp_path / "PMC1").mkdir()
    (tmp_path / "PMC1" / "journal.pone.0001.g001.tif").write_bytes(b"x")
    (tmp_path / "exact.png").write_bytes(b"x")
    assert resolve_graphic(xml, "derm-1") == tmp_path / "derm-1.JPG"
    assert resolve_graphic(xml, "exact.png") == tmp_path / "exact.png"
    plos = resolve_graphic(xml, "info:doi/10.1371/journal.pone.0001.g001")
    assert plos == tmp_path / "PMC1" / "journal.pone.0001.g001.tif"
    assert resolve_graphic(xml, "missing") is None
    assert resolve_graphic(xml, "../../etc/passwd") is None


def test_latin1_bytes_in_a_utf8_article_and_refused_entities() -> None:
    """Latin-1 bytes in a file that implies UTF-8 decode to the right letters (no U+FFFD); an external
    entity (XXE) the parser refuses leaves nothing of itself in the caption; binary garbage is malformed_xml."""
    doc = ('<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE article [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           "<article><front><article-meta><title-group><article-title>Eczéma of the café worker</article-title>"
           "</title-group></article-meta></front><body><fig id=\"f1\"><caption><p>Erythème &xxe; on the hand."
           "</p></caption><graphic/></fig></body></article>").encode("latin-1")
    for targeted in (True, False):
        a = parse_jats(doc, targeted=targeted)
        assert a.title == "Eczéma of the café worker"
        assert a.figures[0].caption == "Erythème on the hand."
    with pytest.raises(ItemError) as err:
        parse_jats(bytes([0x81, 0x00, 0xFF, 0xFE, 0x00, 0x9D] * 50))
    assert err.value.reason == "malformed_xml" and "no encoding fits" in err.value.detail
