"""Every number in a "Measured" table of the docs is in the results file the table names.

A Measured table is a Markdown table whose nearest heading above it starts with "Measured"
(README.md's `## Measured`, `### Measured: ...`; docs/qpi.md's `## Measured ...`). Each one has
a line of its own right above or right below it (blank lines aside) naming where its numbers
come from, relative to the repository root:

    Results: `docs/results/cifar-gray/table.csv`, `docs/results/cifar-gray/fp_T30/`

Paths are the code spans of that line (a code span with a space in it, a command, is not a path);
a folder stands for every results file under it. Results files are what runs wrote: metrics,
histories, sweep tables, benchmark records (`.csv`, `.json`, `.jsonl`, `.log`, `.txt`); a Markdown
file is prose, never evidence.

Which numbers are checked: every decimal (`89.0`, `0.514`) and every percentage (`104 %`) in a
cell, after code spans (commands) are removed. A cell's number is found when some number in the
named files equals it to the printed precision, as it stands or as a fraction printed in percent
(`89.0` is found in `0.8903`). Not checked, and nothing else:
- the first column: it names the row (levels, error sizes, datasets);
- columns whose header starts with one of `NOT_RESULTS` (set-up values, or shares derived from
  other cells);
- rows whose first cell matches `NOT_RESULT_ROWS` (a paper's numbers, a difference of rows).
Integers without a percent sign (levels, seeds, image counts, seconds) are not results either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RESULT_SUFFIXES = {".csv", ".json", ".jsonl", ".log", ".txt"}
# Column headers (lower case, Markdown stripped) whose cells are not measured numbers: a header
# equal to one of these or starting with one.
NOT_RESULTS = (
    "σ",  # the perturbation's size
    "epochs",  # training length
    "won back",  # a share computed from the other columns
)
# Row labels whose numbers are not measured here: a paper's numbers, or a difference of other rows.
NOT_RESULT_ROWS = re.compile(r"\bthe paper\b|^gap to the reference$")
RESULTS_LINE = re.compile(r"^Results:\s*(.+)$")
NUMBER_IN_CELL = re.compile(r"(?<![\w.])(\d+\.\d+|\d+(?=\s*%))(?![\w.])")
NUMBER_IN_FILE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass
class Table:
    doc: Path
    line: int  # 1-based line of the header row
    heading: str
    rows: list[list[str]]
    files: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line} ({self.heading})"


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _results_files(line: str) -> list[str] | None:
    match = RESULTS_LINE.match(line.strip())
    if match is None:
        return None
    return re.findall(r"`([^`\s]+)`", match.group(1))  # a code span with a space is a command


def measured_tables(doc: Path) -> list[Table]:
    """The Measured tables of one Markdown file, each with the files its Results line names."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    tables: list[Table] = []
    heading = ""
    in_fence = False
    index = 0
    while index < len(lines):
        text = lines[index]
        if text.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (match := re.match(r"^#+\s+(.*)", text)):
            heading = match.group(1).strip()
        elif not in_fence and text.lstrip().startswith("|"):
            start = index
            while index + 1 < len(lines) and lines[index + 1].lstrip().startswith("|"):
                index += 1
            if heading.startswith("Measured"):
                rows = [_cells(row) for row in lines[start : index + 1]]
                rows = [row for row in rows if not all(re.fullmatch(r":?-+:?", c) for c in row)]
                table = Table(doc, start + 1, heading, rows)
                above = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
                below = next((row for row in lines[index + 1 :] if row.strip()), "")
                table.files = _results_files(above) or _results_files(below) or []
                tables.append(table)
        index += 1
    return tables


def _plain(cell: str) -> str:
    cell = re.sub(r"`[^`]*`", " ", cell)  # commands
    cell = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", cell)  # links, images
    return cell.replace("*", "").replace("\\|", "|")


def numbers_to_check(table: Table) -> list[tuple[str, str, str]]:
    """(row label, column header, number as printed) for every checked number of a table."""
    header = [_plain(cell).strip().lower() for cell in table.rows[0]]
    checked = []
    for row in table.rows[1:]:
        label = _plain(row[0]).strip()
        if NOT_RESULT_ROWS.search(label):
            continue
        for column, cell in enumerate(row[1:], start=1):
            name = header[column] if column < len(header) else ""
            if name in NOT_RESULTS or name.startswith(NOT_RESULTS):
                continue
            for number in NUMBER_IN_CELL.findall(_plain(cell)):
                checked.append((label, name, number))
    return checked


def _file_numbers(paths: list[Path]) -> list[float]:
    values = []
    for path in paths:
        for token in NUMBER_IN_FILE.findall(path.read_text(encoding="utf-8", errors="replace")):
            values.append(float(token))
    return values


def expand(files: list[str]) -> list[Path]:
    """The results files a Results line names: files as they are, folders by their contents."""
    paths = []
    for name in files:
        path = ROOT / name
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.suffix in RESULT_SUFFIXES)
        else:
            paths.append(path)
    return paths


def found(number: str, values: list[float]) -> bool:
    """Whether a printed number is one of values (or one of them in percent) to its precision."""
    printed = Decimal(number)
    tolerance = 0.5 * 10.0 ** printed.as_tuple().exponent + 1e-9
    target = float(printed)
    return any(abs(abs(v) - target) <= tolerance or abs(100 * abs(v) - target) <= tolerance for v in values)


TABLES = [table for doc in DOCS for table in measured_tables(doc)]


def test_the_docs_have_measured_tables() -> None:
    # Guards the parser: if it stopped finding tables, every other test would pass vacuously.
    assert len(TABLES) >= 20
    assert {t.doc.name for t in TABLES} >= {"README.md", "qpi.md"}


@pytest.mark.parametrize("table", TABLES, ids=[t.where for t in TABLES])
def test_measured_table_names_its_results_files(table: Table) -> None:
    assert table.files, f"{table.where}: no `Results: ...` line right above or below the table"
    for name in table.files:
        path = ROOT / name
        assert path.exists(), f"{table.where}: results file {name} does not exist"
        assert path.is_dir() or path.suffix in RESULT_SUFFIXES, (
            f"{table.where}: {name} is not a results file (one of {sorted(RESULT_SUFFIXES)} or a folder)"
        )
    assert expand(table.files), f"{table.where}: the named folders hold no results files"


@pytest.mark.parametrize("table", TABLES, ids=[t.where for t in TABLES])
def test_every_number_of_a_measured_table_is_in_its_files(table: Table) -> None:
    if not table.files:
        pytest.skip("no Results line (the test above fails)")
    values = _file_numbers(expand(table.files))
    missing = [
        f"{label!r} / {column!r}: {number}"
        for label, column, number in numbers_to_check(table)
        if not found(number, values)
    ]
    assert not missing, f"{table.where}: not in {table.files}:\n  " + "\n  ".join(missing)


def test_the_parser_reads_numbers_and_precision() -> None:
    table = Table(
        ROOT / "README.md",
        1,
        "Measured",
        [
            ["levels", "FP", "σ", "won back"],
            ["2", "**89.0** / 46.0 (tie: 3 images)", "0.02", "104 %"],
            ["2, the paper", "96.8", "", ""],
            ["4", "0.915 ± 0.004; `--set x=0.5`", "", ""],
        ],
    )
    assert [n for _, _, n in numbers_to_check(table)] == ["89.0", "46.0", "0.915", "0.004"]
    assert found("89.0", [0.8903]) and found("89.0", [89.04]) and not found("89.0", [0.8906])
    assert found("0.915", [0.9154]) and not found("0.915", [0.9156])
    assert found("104", [1.04]) and not found("2.75", [2.76])
