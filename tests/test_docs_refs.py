"""The project's documentation stands on its own: every doc a file points at is in the repository.

Comments, docstrings, scripts and docs cite the reference documents in ``docs/`` by name and
section (``broker.md §5``, ``websocket.md §3-§4``, ``market.md S7``, ``rest.md §4 "Outside
OpenAPI"``, ``differences.md #16``) and link between docs (``[text](websockets.md#topics)``).
This test finds every such citation in README.md, docs/, trading/, tests/, scripts/ and the
Makefile and checks that the file exists in this repository, that each cited section is a
heading of it, each cited item a numbered item of it, each anchor a heading's anchor, and each
quoted phrase present in it. A citation of a file that lives elsewhere (another checkout, a
shared folder) fails: a reader of this repository cannot open it.

It also checks that README.md and docs/ name no location of one particular machine (its
workspace or home folders): instructions must work wherever the repository is checked out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

SCANNED_SUFFIXES = {".py", ".md", ".sh", ".toml", ".cfg", ".html", ".js", ".css"}
"""Text files we write. Third-party bundles (below) are skipped: their citations are not ours."""

SKIPPED_PARTS = {"vendor", "node_modules", ".venv", "__pycache__", ".git"}
SKIPPED_PREFIXES = ("trading/specs/static/",)


def scanned_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile"]
    for top in ("docs", "trading", "tests", "scripts"):
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if not path.is_file() or path.suffix not in SCANNED_SUFFIXES:
                continue
            if SKIPPED_PARTS.intersection(path.parts) or rel.startswith(SKIPPED_PREFIXES):
                continue
            if path == Path(__file__).resolve():
                continue  # its examples cite missing files on purpose
            files.append(path)
    return files


# --- what a citation looks like ---------------------------------------------------------------

_NAME = r"(?<![\w/.-])(?P<path>(?:\.{1,2}/|[\w-]+/)*[\w-]+\.md)"
_SECTION = r"§\s?(?P<first>\d+(?:\.\d+)?)"
_MORE = r"(?P<more>(?:\s*(?:,|-|–|and)\s*(?:#\s*)?§\s?\d+(?:\.\d+)?)*)"
_ITEM = r"#(?P<item>\d+)"
_PROPERTY = r"(?P<prop>S\d+(?:\s*,\s*S\d+)*)\b"
_QUOTED = r"\"(?P<phrase>[^\"\n]{2,60})\""

CITATION = re.compile(rf"{_NAME}(?:\s+(?:{_SECTION}{_MORE}|{_ITEM}|{_PROPERTY}))?(?:\s+{_QUOTED})?")
"""``name.md`` optionally followed by ``§N[.M]`` (more after ``,``/``-``/``and``, optionally a
quoted sub-heading), or ``#N`` (a numbered item), or ``S1, S2`` (named properties), or a quoted
phrase."""

MD_LINK = re.compile(r"\]\((?P<target>[^)\s]+?\.md)(?:#(?P<anchor>[\w-]+))?\)")
"""A markdown link to a local ``.md`` file, with an optional anchor."""

SECTION_NUMBER = re.compile(r"§\s?(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Citation:
    source: Path
    line: int
    text: str
    path: str
    sections: tuple[str, ...] = ()
    item: str | None = None
    properties: tuple[str, ...] = ()
    phrase: str | None = None
    anchor: str | None = None
    link: bool = False

    def where(self) -> str:
        return f"{self.source.relative_to(ROOT)}:{self.line}: {self.text!r}"


def citations(path: Path, text: str | None = None) -> Iterator[Citation]:
    """The citations in ``path`` (or in ``text``, read as if it were that file's content)."""
    if text is None:
        text = path.read_text(encoding="utf-8")
    for match in CITATION.finditer(text):
        if text[match.start() - 2 : match.start()] == "](":
            continue  # the target of a markdown link: checked below, anchor included
        sections: tuple[str, ...] = ()
        if match["first"]:
            sections = (match["first"], *SECTION_NUMBER.findall(match["more"] or ""))
        props = tuple(p.strip() for p in match["prop"].split(",")) if match["prop"] else ()
        yield Citation(
            source=path,
            line=text.count("\n", 0, match.start()) + 1,
            text=match.group(0),
            path=match["path"],
            sections=sections,
            item=match["item"],
            properties=props,
            phrase=match["phrase"],
        )
    if path.suffix == ".md":
        for match in MD_LINK.finditer(text):
            target = match["target"]
            if re.match(r"[a-z]+:", target):
                continue  # https://... — not a file of this repository
            yield Citation(
                source=path,
                line=text.count("\n", 0, match.start()) + 1,
                text=match.group(0),
                path=target,
                anchor=match["anchor"],
                link=True,
            )


# --- what a citation must find --------------------------------------------------------------


def resolve(c: Citation) -> Path | None:
    """The cited file inside the repository, or None.

    A markdown link is relative to the file that holds it (that is how every viewer follows it).
    A name in prose or code may also be relative to the repository root (``docs/architecture.md``
    in a docstring), and a bare name (``broker.md``) means the reference doc in ``docs/``.
    """
    bases = [c.source.parent] if c.link else [c.source.parent, ROOT, DOCS]
    for base in bases:
        candidate = (base / c.path).resolve()
        if candidate.is_relative_to(ROOT) and candidate.is_file():
            return candidate
    return None


HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$", re.MULTILINE)


def headings(doc: Path) -> list[str]:
    fences = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
    text = fences.sub("", doc.read_text(encoding="utf-8"))  # a "# comment" in code is no heading
    return [m.group(2) for m in HEADING.finditer(text)]


def has_section(doc: Path, number: str) -> bool:
    return any(re.match(rf"{re.escape(number)}\.?\s", h) for h in headings(doc))


def anchor_of(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def has_item(doc: Path, number: str) -> bool:
    return re.search(rf"^{number}\.\s", doc.read_text(encoding="utf-8"), re.MULTILINE) is not None


def problems(c: Citation) -> list[str]:
    doc = resolve(c)
    if doc is None:
        return [f"{c.where()}: {c.path} is not a file of this repository"]
    out: list[str] = []
    body = doc.read_text(encoding="utf-8")
    out += [f"{c.where()}: no section {n} in {c.path}" for n in c.sections
            if not has_section(doc, n)]  # fmt: skip
    if c.item is not None and not has_item(doc, c.item):
        out.append(f"{c.where()}: no numbered item {c.item} in {c.path}")
    out += [f"{c.where()}: {p} is not defined in {c.path}" for p in c.properties
            if f"**{p}" not in body]  # fmt: skip
    if c.phrase is not None and c.phrase not in body:
        out.append(f"{c.where()}: {c.phrase!r} does not appear in {c.path}")
    if c.anchor is not None and c.anchor not in {anchor_of(h) for h in headings(doc)}:
        out.append(f"{c.where()}: no heading with anchor #{c.anchor} in {c.path}")
    return out


def test_every_cited_doc_section_and_anchor_exists() -> None:
    found = [c for path in scanned_files() for c in citations(path)]
    assert len(found) > 100, "the citation pattern no longer matches the way the code cites docs"
    failures = [p for c in found for p in problems(c)]
    assert not failures, f"{len(failures)} broken doc references:\n" + "\n".join(failures)


# --- the checker itself ---------------------------------------------------------------------


def _cite(text: str) -> list[Citation]:
    return list(citations(ROOT / "trading" / "probe.py", text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see broker.md §5 for netting", [("broker.md", ("5",))]),
        ("(broker.md §3, §5-§7,\n§9, §12)", [("broker.md", ("3", "5", "7", "9", "12"))]),
        ("websocket.md §2-§4, §6, §10", [("websocket.md", ("2", "4", "6", "10"))]),
        ("rest.md §4 and udf.md §1", [("rest.md", ("4",)), ("udf.md", ("1",))]),
        ("broker.md §2.1 rules", [("broker.md", ("2.1",))]),
        ("(udf.md) times", [("udf.md", ())]),
    ],
)
def test_citation_pattern(text: str, expected: list[tuple[str, tuple[str, ...]]]) -> None:
    assert [(c.path, c.sections) for c in _cite(text)] == expected


def test_checker_catches_what_it_should() -> None:
    assert problems(_cite("docs: shared/contract/websocket.md")[0])
    assert problems(_cite('(design.md "The hub")')[0])
    assert not problems(_cite("rest.md §1, §4 and broker.md §2.1")[0])
    assert not problems(_cite('rest.md §4 "Outside OpenAPI"')[0])
    assert problems(_cite('rest.md §4 "No such heading"')[0])
    assert not problems(_cite("market.md S1, S7")[0])
    assert problems(_cite("rest.md §99")[0])
    assert problems(_cite("market.md S99")[0])
    assert problems(_cite("differences.md #999")[0])
    assert not problems(_cite("differences.md #16")[0])
    link = next(citations(DOCS / "probe.md", "see [netting](broker.md#5-positions-netting)"))
    assert link.link
    assert not problems(link)
    assert problems(next(citations(DOCS / "probe.md", "[x](broker.md#no-such-anchor)")))
    assert problems(next(citations(ROOT / "probe.md", "[x](broker.md)")))  # relative to the file


# --- no machine paths -------------------------------------------------------------------------

MACHINE_PATH = re.compile(r"(?<![\w.:/-])/(?:work|home|root|Users|mnt|opt|srv)/[\w.-]")
"""Workspace and home folders of one machine. ``/tmp`` (scratch space every Unix has, used for a
benchmark's output), ``/usr/bin/chromium`` and ``/proc`` (system locations) and URL paths such as
``/api/v1/ws`` are fine."""


def test_readme_and_docs_name_no_machine_paths() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MACHINE_PATH.search(line)
    ]
    assert not offenders, "machine-specific paths in the docs:\n" + "\n".join(offenders)
