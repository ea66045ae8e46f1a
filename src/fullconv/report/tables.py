"""HTML helpers for report sections: tables, mean ± std, verdicts. Everything returned is an HTML string."""
from __future__ import annotations

import html
import math
from typing import Any, Iterable, Sequence


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


def verdict(reproduced: bool | None, detail: str = "") -> str:
    """The line 'reproduced: yes/no — detail', coloured."""
    word, css = {True: ("yes", "yes"), False: ("no", "no"), None: ("not checked", "na")}[reproduced]
    tail = f" — {escape(detail)}" if detail else ""
    return f'<p class="verdict {css}">reproduced: <b>{word}</b>{tail}</p>'


def summary_table(summary: Sequence[dict], group_by: Sequence[str], metrics: Sequence[str], digits: int = 1) -> str:
    """Our summary rows: the group keys, ``metric mean ± std`` per metric, and n."""
    headers = [*group_by, *metrics, "n"]
    rows = [[*(row.get(k) for k in group_by),
             *(Raw(escape(mean_std(row.get(f"{m}_mean"), row.get(f"{m}_std"), digits))) for m in metrics),
             row.get("n")] for row in summary]
    return table(headers, rows)


def json_table(value: Any) -> str:
    """Any JSON structure as nested tables/lists (for the paper's numbers of experiments without their own section)."""
    if isinstance(value, dict):
        if value and all(isinstance(v, dict) for v in value.values()):
            keys = list(dict.fromkeys(k for v in value.values() for k in v))
            return table(["", *keys], [[name, *(_plain(v.get(k)) for k in keys)] for name, v in value.items()])
        return table(["", "value"], [[k, _plain(v)] for k, v in value.items()])
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys = list(dict.fromkeys(k for v in value for k in v))
        return table(keys, [[_plain(v.get(k)) for k in keys] for v in value])
    return f"<p>{escape(value)}</p>"


def _plain(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return Raw(json_table(value))
    return value
