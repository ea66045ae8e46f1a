"""HTML helpers for report sections: tables, mean ± std, verdicts. Everything returned is an HTML string."""
from __future__ import annotations

import html
import math
from typing import Any, Iterable, Sequence

from ..experiments import stats


def escape(value: Any) -> str:
    return html.escape(str(value))


def number(value: Any, digits: int = 1) -> str:
    """A number with ``digits`` decimals ('–' for None/NaN); other values as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.{digits}f}"


def mean_std(mean: Any, std: Any = None, digits: int = 1) -> str:
    """``mean ± std`` with ``digits`` decimals (just the mean when std is None)."""
    if std is None or mean is None:
        return number(mean, digits)
    return f"{number(mean, digits)} ± {number(std, digits)}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None) -> str:
    """An HTML table; cells are escaped text (floats with 4 significant digits), or ``Raw`` HTML."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f'<table class="data">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Raw(str):
    """A table cell that is already HTML."""


def _cell(value: Any) -> str:
    if isinstance(value, Raw):
        return f"<td>{value}</td>"
    if isinstance(value, float):
        return f'<td class="num">{"–" if math.isnan(value) else f"{value:.4g}"}</td>'
    if value is None:
        return "<td>–</td>"
    return f"<td>{escape(value)}</td>"


#: results.json ``pattern.verdict`` values (those of :mod:`fullconv.experiments.stats`: reproduced,
#: contradicted, not resolved) with their CSS class; older results have only ``reproduced``.
VERDICTS = dict(zip(stats.VERDICTS, ("yes", "no", "na")))
_REPRODUCED = {True: ("yes", "yes"), False: ("no", "no"), None: ("not checked", "na")}


def verdict_of(pattern: dict | None) -> tuple[str, str, str]:
    """(label, word, css class) of a results.json ``pattern``: its ``verdict`` when present, else ``reproduced``.

    >>> verdict_of({"verdict": "not resolved", "reproduced": False})
    ('verdict', 'not resolved', 'na')
    >>> verdict_of({"verdict": "contradicted", "reproduced": False})
    ('verdict', 'contradicted', 'no')
    >>> verdict_of({"reproduced": True})
    ('reproduced', 'yes', 'yes')
    """
    pattern = pattern or {}
    if pattern.get("verdict") in VERDICTS:
        return "verdict", pattern["verdict"], VERDICTS[pattern["verdict"]]
    return ("reproduced", *_REPRODUCED[pattern.get("reproduced")])


def verdict_word(pattern: dict | None) -> str:
    """'reproduced: yes', 'verdict: not resolved', ... (the one-line verdict of the CLI)."""
    label, word, _ = verdict_of(pattern)
    return f"{label}: {word}"


def verdict_line(pattern: dict | None) -> str:
    """The verdict and the pattern's one-line detail, as text."""
    detail = (pattern or {}).get("detail", "")
    return verdict_word(pattern) + (f" — {detail}" if detail else "")


def pattern_verdict(pattern: dict | None) -> str:
    """The line 'verdict: reproduced — detail' (or 'reproduced: yes — ...' for older results), coloured."""
    label, word, css = verdict_of(pattern)
    detail = (pattern or {}).get("detail", "")
    tail = f" — {escape(detail)}" if detail else ""
    return f'<p class="verdict {css}">{label}: <b>{escape(word)}</b>{tail}</p>'


def badge(pattern: dict | None) -> str:
    """The verdict word as a coloured badge."""
    _, word, css = verdict_of(pattern)
    return f'<span class="badge {css}">{escape(word)}</span>'


def digits_for(values: Iterable[Any], least: int = 1, significant: int = 3) -> int:
    """Decimals that show ``significant`` digits of the smallest non-zero magnitude (at least ``least``, at most 6).

    >>> digits_for([89.7, 18.4]), digits_for([8.4]), digits_for([0.145, 0.02]), digits_for([0.0, None])
    (1, 2, 4, 1)
    """
    magnitudes = [abs(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                  and math.isfinite(v) and v != 0]
    if not magnitudes:
        return least
    return min(6, max(least, significant - 1 - math.floor(math.log10(min(magnitudes)))))


def summary_table(summary: Sequence[dict], group_by: Sequence[str], metrics: Sequence[str],
                  digits: int | None = None) -> str:
    """Our summary rows: the group keys, ``metric mean ± std`` per metric, and n.

    ``digits`` None: per metric, enough decimals for three significant digits of its smallest
    mean (at least one), so small numbers such as FPR95 do not round to 0.
    """
    headers = [*group_by, *metrics, "n"]
    places = {m: digits if digits is not None else digits_for(row.get(f"{m}_mean") for row in summary)
              for m in metrics}
    rows = [[*(row.get(k) for k in group_by),
             *(Raw(f'<span class="num">{escape(mean_std(row.get(f"{m}_mean"), row.get(f"{m}_std"), places[m]))}'
                   f"</span>") for m in metrics),
             row.get("n")] for row in summary]
    return table(headers, rows)


def paper_value(value: Any) -> Any:
    """One published number for a table cell: ``[mean, std]`` as 'mean ± std', floats with enough digits."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value):
        places = max(1, *(len(format(v, ".6g").partition(".")[2]) for v in value))  # the paper's own digits
        return Raw(f'<span class="num">{escape(mean_std(value[0], value[1], places))}</span>')
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_number(value):  # as published: every digit the paper gave
        return Raw(f'<span class="num">{value if isinstance(value, int) else format(value, ".6g")}</span>')
    if isinstance(value, (dict, list, tuple)):
        return Raw(paper_table(value))
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def paper_table(value: Any) -> str:
    """The paper's numbers (any JSON structure of an experiment's ``PAPER``) as formatted tables, never raw lists.

    Nested dicts become one row per path (``arch``, ``variant``) with the leaves' keys as columns;
    equal-length lists of a dict become columns side by side; text becomes paragraphs.
    """
    if isinstance(value, dict):
        leaves = _leaf_rows(value)
        if leaves is not None:
            depth = max(len(path) for path, _ in leaves)
            keys = list(dict.fromkeys(k for _, row in leaves for k in row))
            return table(["" for _ in range(depth)] + keys,
                         [[*path, *([""] * (depth - len(path))), *(paper_value(row.get(k)) for k in keys)]
                          for path, row in leaves])
        columns = {k: v for k, v in value.items() if isinstance(v, (list, tuple)) and v and not
                   all(isinstance(x, str) for x in v)}
        lengths = {len(v) for v in columns.values()}
        parts = []
        if len(columns) > 1 and len(lengths) == 1:
            parts.append(table(list(columns), [[paper_value(c[i]) for c in columns.values()]
                                               for i in range(lengths.pop())]))
        else:
            columns = {}
        rest = {k: v for k, v in value.items() if k not in columns}
        for key, item in rest.items():
            if isinstance(item, str):
                parts.append(f"<p>{escape(key)}: {escape(item)}</p>")
            elif isinstance(item, (list, tuple)) and all(isinstance(x, str) for x in item):
                parts.append("<ul>" + "".join(f"<li>{escape(x)}</li>" for x in item) + "</ul>")
            else:
                parts.append(table(["", "value"], [[key, paper_value(item)]]))
        return "".join(parts)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
        keys = list(dict.fromkeys(k for v in value for k in v))
        return table(keys, [[paper_value(v.get(k)) for k in keys] for v in value])
    if isinstance(value, (list, tuple)):
        return table(["value"], [[paper_value(v)] for v in value])
    return f"<p>{escape(value)}</p>"


def _leaf_rows(value: dict, path: tuple = ()) -> list[tuple[tuple, dict]] | None:
    """(path, {key: scalar or [mean, std]}) for a dict whose every branch ends in such a dict; else None."""
    if value and all(not isinstance(v, dict) and not _is_long_list(v) for v in value.values()):
        return [(path, value)] if path else None
    if not value or not all(isinstance(v, dict) for v in value.values()):
        return None
    rows = []
    for key, item in value.items():
        below = _leaf_rows(item, (*path, str(key)))
        if below is None:
            return None
        rows += below
    return rows


def _is_long_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and not (len(value) == 2 and all(_is_number(v) for v in value))


