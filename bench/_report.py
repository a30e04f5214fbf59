"""Statistics, targets and the Markdown table of a benchmark run."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Sequence

__all__ = [
    "PER_TEST_COMPARISONS",
    "Comparison",
    "Verdict",
    "judge",
    "markdown",
    "restructured",
    "summary",
]


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of *values*."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


@dataclass(frozen=True)
class Comparison:
    """A ratio between scenarios, paired within each repetition.

    ``net`` comparisons subtract each side's floor first (the framework's
    empty test), to compare what the temp-file work itself costs.
    """

    subject: str
    against: str
    target: float | None = None
    reference: str = ""  # the 2026-11 figure for peers
    subject_floor: str = ""
    against_floor: str = ""

    @property
    def name(self) -> str:
        if self.subject_floor:
            return (
                f"({self.subject} - {self.subject_floor}) / ({self.against} - {self.against_floor})"
            )
        return f"{self.subject} / {self.against}"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(
            k for k in (self.subject, self.against, self.subject_floor, self.against_floor) if k
        )

    def value(self, sample: Callable[[str], float]) -> float:
        """The ratio in one repetition, given each scenario's time in it."""
        top, bottom = sample(self.subject), sample(self.against)
        if self.subject_floor:
            top -= sample(self.subject_floor)
            bottom -= sample(self.against_floor)
        return top / bottom


PER_TEST_COMPARISONS = [
    Comparison("T", "F", 1.5),
    Comparison("H", "F"),
    Comparison("P.tempfile", "H", reference="1.04"),
    Comparison("P.testfixtures", "H", reference="1.06"),
    Comparison("P.testfixtures.write", "H", reference="1.29"),
    Comparison("P.fixtures", "H", reference="1.02"),
    Comparison("P.fixtures", "H", subject_floor="F.testtools", against_floor="F"),
    Comparison("P.pytest", "H", reference="5.6"),
    Comparison("P.pytest", "H", subject_floor="F.pytest", against_floor="F"),
    Comparison("C.file", "H", 1.10),
    Comparison("C.dir", "H", 1.10),
    Comparison("C.file/tc-nd", "H", 1.10),
    Comparison("C.dir/tc-nd", "H", 1.10),
    Comparison("C.file/tc", "H", 1.15),
    Comparison("C.dir/tc", "H", 1.15),
    Comparison("L.F", "F", 2.0),
    Comparison("L.T", "F", 2.0),
    Comparison("L.C.file", "H", 1.15),
    Comparison("L.C.dir", "H", 1.15),
    Comparison("C.file", "P.testfixtures.write"),
    Comparison("C.dir", "P.testfixtures.write"),
]


@dataclass(frozen=True)
class Verdict:
    """One judged target: what, the measured median, the limit, and the word."""

    what: str
    measured: float
    limit: float
    unit: str

    @property
    def met(self) -> bool:
        return self.measured <= self.limit

    @property
    def word(self) -> str:
        return "met" if self.met else "missed"

    def line(self) -> str:
        measured, limit = _fmt(self.measured), _fmt(self.limit)
        return f"{self.what}: {measured}{self.unit} (target <= {limit}{self.unit})"


def judge(
    what: str, measured: float | None, limit: float | None, unit: str = "x"
) -> Verdict | None:
    """A verdict on *measured* against *limit*, or None where there is no target."""
    if measured is None or limit is None:
        return None
    return Verdict(what, measured, limit, unit)


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(stats: dict[str, float] | None, scale: float = 1.0, unit: str = "") -> str:
    if not stats:
        return "n/a"
    return (
        f"{_fmt(stats['median'] * scale)}{unit} "
        f"({_fmt(stats['min'] * scale)}-{_fmt(stats['max'] * scale)})"
    )


def _verdict_cell(verdicts: Sequence[Verdict | None]) -> str:
    judged = [v for v in verdicts if v is not None]
    if not judged:
        return "-"
    return "met" if all(v.met for v in judged) else "**missed**"


def markdown(results: dict[str, Any]) -> str:
    """The whole run as Markdown: conditions, then one table per part."""
    meta = results["meta"]
    out = [
        f"# tempcase benchmarks, {meta['date']}",
        "",
        f"- Python {meta['python']} ({meta['implementation']}), {meta['platform']}, "
        f"{meta['cpus']} CPUs",
        f"- temp dir on {meta['tmp_fs']}; {meta['mode']} run: tests per suite "
        f"{', '.join(f'{n:,}' for n in meta['tests'])}, {meta['repeat']} repetitions after a "
        "warm-up, alternating order",
        f"- load average at start {meta['load_start']}, at end {meta['load_end']}",
        f"- tempcase at {meta.get('checkout', 'unknown')}; peers: {meta['peers']}",
    ]
    if meta.get("note"):
        out.append(f"- note: {meta['note']}")
    out += ["", "Medians, with the min-max over the repetitions in brackets. Ratios are "
            "paired: computed within each repetition, then summarised.", ""]
    out += _per_test_tables(results)
    if results.get("big"):
        out += _big_table(results["big"])
    if results.get("memory"):
        out += _memory_table(results["memory"])
    if results.get("startup"):
        out += _startup_table(results["startup"])
    misses = results.get("misses", [])
    out += ["## Misses", ""]
    out += [f"- {m}" for m in misses] if misses else ["None: every judged target was met."]
    if results.get("skipped"):
        out += ["", "## Not measured", ""] + [f"- {s}" for s in results["skipped"]]
    return "\n".join(out) + "\n"


def _per_test_tables(results: dict[str, Any]) -> list[str]:
    per_test = results.get("per_test")
    if not per_test:
        return []
    sizes = results["meta"]["tests"]
    head = " | ".join(f"N={n:,} us/test" for n in sizes)
    out = ["## Time per test", "", f"| scenario | what | front end | {head} |",
           "|---|---|---|" + "---|" * len(sizes)]
    for key, entry in per_test.items():
        cells = " | ".join(_cell(entry["by_n"].get(str(n)), 1e6) for n in sizes)
        out.append(f"| {key} | {entry['label']} | {entry['front']} | {cells} |")
    head = " | ".join(f"N={n:,}" for n in sizes)
    out += ["", "## Ratios", "", f"| ratio | target | issue's figure | {head} | verdict |",
            "|---|---|---|" + "---|" * len(sizes) + "---|"]
    for entry in results["ratios"]:
        cells = " | ".join(_cell(entry["by_n"].get(str(n)), unit="x") for n in sizes)
        target = f"<= {entry['target']}x" if entry["target"] else "-"
        reference = f"{entry['reference']}x" if entry["reference"] else "-"
        verdict = "-" if entry["target"] is None else entry["verdict"]
        verdict = "**missed**" if verdict == "missed" else verdict
        out.append(f"| {entry['name']} | {target} | {reference} | {cells} | {verdict} |")
    return [*out, ""]


def _big_table(big: dict[str, Any]) -> list[str]:
    out = [f"## Big: {big['files']:,} files in {big['dirs']:,} directories", "",
           "| measurement | median (min-max) | ratio to shutil.rmtree | target | verdict |",
           "|---|---|---|---|---|"]
    for row in big["rows"]:
        ratio = _cell(row.get("ratio"), unit="x") if row.get("ratio") else "-"
        target = row.get("target_text", "-")
        verdict = row.get("verdict", "-")
        verdict = "**missed**" if verdict == "missed" else verdict
        out.append(f"| {row['what']} | {_cell(row['stats'], row['scale'], row['unit'])} | "
                   f"{ratio} | {target} | {verdict} |")
    return [*out, ""]


def _memory_table(memory: dict[str, Any]) -> list[str]:
    mb = 1 / (1024 * 1024)
    out = [f"## Memory and drift: {memory['tests']:,} tests in one run", "",
           "| run | peak RSS | RSS growth during the run | us/test, first tenth | "
           "us/test, last tenth | last / first |", "|---|---|---|---|---|---|"]
    for row in memory["rows"]:
        out.append(
            f"| {row['label']} | {_cell(row['maxrss'], mb, ' MB')} | "
            f"{_cell(row['growth'], mb, ' MB')} | {_cell(row['first'], 1e6)} | "
            f"{_cell(row['last'], 1e6)} | {_cell(row['drift'], unit='x')} |"
        )
    out += ["", "| target | measured | verdict |", "|---|---|---|"]
    for verdict in memory["verdicts"]:
        word = "**missed**" if verdict["verdict"] == "missed" else verdict["verdict"]
        out.append(f"| {verdict['what']} | {verdict['text']} | {word} |")
    return [*out, ""]


def _startup_table(startup: dict[str, Any]) -> list[str]:
    out = ["## Start-up (wall clock of the whole command)", "",
           "| command | median ms (min-max) | paired difference, ms | target | verdict |",
           "|---|---|---|---|---|"]
    for row in startup["rows"]:
        diff = _cell(row.get("difference"), 1e3) if row.get("difference") else "-"
        word = row.get("verdict", "-")
        word = "**missed**" if word == "missed" else word
        out.append(f"| `{row['command']}` | {_cell(row['stats'], 1e3)} | {diff} | "
                   f"{row.get('target_text', '-')} | {word} |")
    return [*out, ""]


def restructured(text: str, underline: str = "~") -> str:
    """The Markdown of :func:`markdown` as reStructuredText, for the docs.

    Only what :func:`markdown` writes is handled: the title (dropped: the
    page has its own), ``##`` headings, bullets, paragraphs, pipe tables,
    bold and inline code.
    """
    out: list[str] = []
    rows: list[list[str]] = []

    def inline(cell: str) -> str:
        cell = re.sub(r"`([^`]+)`", r"``\1``", cell)
        return "\u2013" if cell == "-" else cell

    def flush() -> None:
        if not rows:
            return
        out.extend([".. list-table::", "   :header-rows: 1", ""])
        for row in rows:
            out.append(f"   * - {inline(row[0])}")
            out.extend(f"     - {inline(cell)}" for cell in row[1:])
        out.append("")
        rows.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not all(set(cell) <= {"-"} for cell in cells):
                rows.append(cells)
            continue
        flush()
        if line.startswith("# "):
            continue
        if line.startswith("## "):
            title = line[3:]
            out.extend([title, underline * len(title)])
        else:
            out.append(inline(line))
    flush()
    return "\n".join(out).strip("\n") + "\n"
