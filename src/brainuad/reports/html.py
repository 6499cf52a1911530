"""HTML building blocks of the self-contained report page (inline CSS, no scripts, no links out).

Every image is embedded as a ``data:image/png;base64`` URI; the page loads nothing else.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

from brainuad.methods import label_html
from brainuad.reports.tables import ReportTable, method_label

CSS = """
:root { --ink: #1d2329; --muted: #5b6570; --line: #d9dee3; --accent: #2b5c8a; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial,
       sans-serif; color: var(--ink); background: #fff; }
header { background: var(--accent); color: #fff; padding: 22px 32px 18px; }
header h1 { margin: 0 0 4px; font-size: 23px; font-weight: 600; }
header p { margin: 2px 0; color: #dce7f2; font-size: 13.5px; }
nav { background: var(--bg); border-bottom: 1px solid var(--line); padding: 8px 32px;
      font-size: 13.5px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 16px; white-space: nowrap; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 32px 48px; }
section { border-bottom: 1px solid var(--line); padding: 10px 0 20px; }
h2 { font-size: 19px; margin: 18px 0 8px; color: var(--accent); }
h3 { font-size: 15.5px; margin: 16px 0 6px; }
p.lead { margin: 4px 0 10px; }
p.note { background: #fff8e1; border-left: 4px solid #f0b429; padding: 6px 10px;
         margin: 6px 0; font-size: 13.5px; color: #5c4400; }
div.warning { background: #fdecea; border-left: 4px solid #c0392b; padding: 4px 12px;
              margin: 8px 0 12px; font-size: 13.5px; color: #5c1a12; }
div.warning ul { margin: 4px 0 6px; padding-left: 20px; }
.caption { color: var(--muted); font-size: 13px; margin: 6px 0 4px; max-width: 980px; }
.tablewrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13.5px;
        font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 12px; text-align: right;
         white-space: nowrap; }
th { background: var(--bg); font-weight: 600; border-bottom: 2px solid #b9c2cb; }
th:first-child, td:first-child { text-align: left; }
th.text { text-align: left; }
td.text { text-align: left; white-space: normal; }
tr:nth-child(even) td { background: #fbfcfd; }
tr.headline td { font-weight: 600; }
figure { margin: 10px 0 14px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; max-width: 980px; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: 10px 12px;
      font-size: 12.5px; overflow-x: auto; max-height: 480px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr));
         gap: 8px 28px; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 16px; }
"""


@dataclass(frozen=True)
class Section:
    """One report section: anchor id, heading, HTML body and notes on omitted parts."""

    id: str
    title: str
    body: str = ""
    notes: tuple[str, ...] = field(default=())


def esc(text: object) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(text), quote=True)


def method_html(method: str) -> str:
    """A method's registry label with its subscript (``_x`` -> ``<sub>x</sub>``), escaped."""
    return label_html(esc(method_label(method)))


def img_tag(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def figure_html(png: bytes, alt: str, caption: str = "") -> str:
    """A ``<figure>`` with the embedded image and an optional caption."""
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure>{img_tag(png, alt)}{cap}</figure>"


def table_html(table: ReportTable) -> str:
    """A report table as HTML (method columns with subscripts, combined-score rows in bold)."""
    columns = list(table.display.columns)
    score_at = columns.index("Score") if "Score" in columns else None
    left = {*table.method_columns, "Score", "Split"}
    head = "".join(
        f'<th class="text">{esc(c)}</th>' if c in left else f"<th>{esc(c)}</th>" for c in columns
    )
    rows = []
    for values in table.display.itertuples(index=False):
        cells = []
        for col, value in zip(table.display.columns, values, strict=True):
            if col in table.method_columns:
                cells.append(f'<td class="text">{method_html(str(value))}</td>')
            elif col in left:
                cells.append(f'<td class="text">{esc(value)}</td>')
            else:
                cells.append(f"<td>{esc(value)}</td>")
        is_head = score_at is not None and values[score_at] == "combined"
        cls = ' class="headline"' if is_head else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    cap = f'<p class="caption">{esc(table.caption)}</p>' if table.caption else ""
    body = "".join(rows)
    return (
        f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>{cap}"
    )


def kv_table(pairs: list[tuple[str, str]], header: tuple[str, str]) -> str:
    """A two-column key/value table (values left-aligned)."""
    rows = "".join(f'<tr><td>{esc(k)}</td><td class="text">{esc(v)}</td></tr>' for k, v in pairs)
    return (
        f'<div class="tablewrap"><table><thead><tr><th>{esc(header[0])}</th>'
        f'<th style="text-align:left">{esc(header[1])}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def notes_html(notes: tuple[str, ...] | list[str]) -> str:
    """Notes on omitted parts, one highlighted paragraph each."""
    return "".join(f'<p class="note">{esc(n)}</p>' for n in notes)


def render_page(title: str, subtitle: list[str], sections: list[Section], footer: str) -> str:
    """The whole page: header, table of contents, the sections in order, footer."""
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    parts = [
        f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{notes_html(s.notes)}{s.body}</section>'
        for s in sections
    ]
    sub = "".join(f"<p>{line}</p>" for line in subtitle)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1>{sub}</header>\n<nav>{nav}</nav>\n<main>\n"
        + "\n".join(parts)
        + f"\n</main>\n<footer>{footer}</footer>\n</body>\n</html>\n"
    )
