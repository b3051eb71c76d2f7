"""``report.html``: the report as one self-contained page that opens from disk.

The same text as ``report.md`` (its Markdown converted here: the subset the report writes), the answer
block first, every figure embedded as a ``data:`` URI; then a sortable, filterable table of every file of
the sweep and a section per image with its files, linked relatively (``href`` = the ``path`` column,
relative to the sweep folder, where ``report.html`` is written). No script, style or font is fetched: the
page makes no network request.
"""

from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path

from . import fmt
from .data import Context

PROVENANCE = "## How this report was made"
STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fff}
main{max-width:1100px;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #ddd}h3{font-size:1.1rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:13px}th,td{border:1px solid #ccc;padding:.2rem .45rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;font-size:13px}code{font-size:90%}
img{max-width:100%;height:auto}figure{margin:1rem 0}
blockquote{border-left:4px solid #e0a000;margin:0;padding:.3rem 1rem;background:#fff8e5}
#answer{background:#f2f8ff;border:1px solid #bcd6f5;padding:0 1rem 1rem;border-radius:6px}
.sortable th{cursor:pointer;user-select:none;white-space:nowrap}.sortable th[aria-sort=ascending]::after{content:" ▲"}
.sortable th[aria-sort=descending]::after{content:" ▼"}td.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{max-height:32rem;overflow:auto;border:1px solid #ddd}.scroll table{margin:0}
.scroll thead th{position:sticky;top:0}
#filter{width:100%;max-width:30rem;padding:.3rem;font-size:14px}
"""
SCRIPT = """
(function(){
  function key(td){var v=td.getAttribute('data-v');if(v!==null&&v!==''){return parseFloat(v);}return td.textContent;}
  document.querySelectorAll('table.sortable').forEach(function(table){
    var heads=table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads,function(th,col){
      th.addEventListener('click',function(){
        var asc=th.getAttribute('aria-sort')!=='ascending';
        Array.prototype.forEach.call(heads,function(h){h.removeAttribute('aria-sort');});
        th.setAttribute('aria-sort',asc?'ascending':'descending');
        var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){
          var x=key(a.cells[col]),y=key(b.cells[col]);
          var nx=typeof x==='number'&&!isNaN(x),ny=typeof y==='number'&&!isNaN(y);
          if(nx&&!ny){return -1;}if(ny&&!nx){return 1;}
          var c=nx?(x-y):String(x).localeCompare(String(y));
          return asc?c:-c;
        });
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  var input=document.getElementById('filter');
  if(input){
    var table=document.getElementById('results'),count=document.getElementById('shown');
    input.addEventListener('input',function(){
      var terms=input.value.toLowerCase().split(/\\s+/).filter(Boolean),n=0;
      Array.prototype.forEach.call(table.tBodies[0].rows,function(r){
        var text=r.textContent.toLowerCase(),ok=terms.every(function(t){return text.indexOf(t)>=0;});
        r.style.display=ok?'':'none';if(ok){n++;}
      });
      count.textContent=n;
    });
  }
})();
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _inline(text: str) -> str:
    """Escape, then ``code``, **bold** and *italic* (code spans untouched)."""
    parts = text.split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # inside backticks
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        s = html.escape(part, quote=False)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)
        out.append(s)
    if len(parts) % 2 == 0:  # an unmatched backtick: keep it as text
        return html.escape(text, quote=False)
    return "".join(out)


def _image(alt: str, src: str, sweep_dir: Path) -> str:
    path = sweep_dir / src
    if not path.is_file():
        return f"<p>(figure {html.escape(src)} not drawn)</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>')


def _table(lines: list[str]) -> str:
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    head, body = cells[0], cells[2:]
    out = ["<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in body]
    return "\n".join(out) + "</tbody></table>"


def markdown(text: str, sweep_dir: Path) -> str:
    """The report's Markdown as HTML: headings, paragraphs, lists, tables, fenced code, block quotes and
    figures (embedded)."""
    out, lines, i = [], text.split("\n"), 0
    in_answer = False
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            lang = line[3:].strip()
            out.append(f'<pre><code class="language-{html.escape(lang)}">' + html.escape("\n".join(lines[i + 1:j]))
                       + "</code></pre>")
            i = j + 1
            continue
        m = re.match(r"(#{1,3}) (.*)", line)
        if m:
            level, title = len(m.group(1)), m.group(2)
            if level == 2 and in_answer:
                out.append("</section>")
                in_answer = False
            if level == 2 and title == "The answer":
                out.append('<section id="answer">')
                in_answer = True
            out.append(f'<h{level} id="{_slug(title)}">{_inline(title)}</h{level}>')
            i += 1
            continue
        block = []
        while i < len(lines) and lines[i].strip() and not lines[i].startswith(("```", "#")):
            block.append(lines[i])
            i += 1
        if all(b.startswith("|") for b in block) and len(block) >= 2:
            out.append(_table(block))
        elif all(b.startswith("- ") for b in block):
            out.append("<ul>" + "".join(f"<li>{_inline(b[2:])}</li>" for b in block) + "</ul>")
        elif all(b.startswith(">") for b in block):
            out.append("<blockquote><p>" + _inline(" ".join(b.lstrip("> ") for b in block)) + "</p></blockquote>")
        elif len(block) == 1 and re.fullmatch(r"!\[([^\]]*)\]\(([^)]+)\)", block[0]):
            alt, src = re.fullmatch(r"!\[([^\]]*)\]\(([^)]+)\)", block[0]).groups()
            out.append(_image(alt, src, sweep_dir))
        elif block and block[0].startswith("- "):  # a list whose items wrap onto more lines
            items, current = [], []
            for b in block:
                if b.startswith("- ") and current:
                    items.append(" ".join(current))
                    current = []
                current.append(b[2:] if b.startswith("- ") else b.strip())
            items.append(" ".join(current))
            out.append("<ul>" + "".join(f"<li>{_inline(t)}</li>" for t in items) + "</ul>")
        else:
            out.append("<p>" + _inline(" ".join(block)) + "</p>")
    if in_answer:
        out.append("</section>")
    return "\n".join(out)


def _num(value, digits=None) -> tuple[str, str]:
    """(data-v, shown text) of a number: sortable value and formatted text; blanks for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", "–"
    if isinstance(value, float) and math.isinf(value):
        return "1e308" if value > 0 else "-1e308", "∞" if value > 0 else "-∞"
    shown = fmt.seconds(value) if digits is None else f"{value:.{digits}f}"
    return f"{float(value):.7g}", shown


def _link(path, sweep_dir: Path) -> str:
    if isinstance(path, str) and path and (sweep_dir / path).is_file():
        return f'<a class="file" href="{html.escape(path)}">{html.escape(Path(path).name)}</a>'
    return "–"


RESULT_COLUMNS = [  # header, column, digits (None: 3 significant), numeric
    ("image", "image", None, False), ("k", "k", 0, True), ("quantizer", "quantizer", None, False),
    ("encoding", "encoding", None, False), ("dither", "dither", None, False), ("alpha", "alpha", None, False),
    ("bytes", "bytes", 0, True), ("KB", "kb", 1, True), ("bpp", "bits_per_pixel", 2, True),
    ("× 24-bit RGB", "ratio_to_rgb24", 2, True), ("× original", "ratio_to_original", 2, True),
    ("PSNR dB", "psnr", 1, True), ("ΔE2000", "delta_e2000", 2, True), ("quantize s", "runtime_s", None, True),
    ("encode s", "encode_s", None, True),
]


def results_table(ctx: Context, sweep_dir: Path) -> str:
    """Every file of the sweep (dithered, lossy comparators and every setting included; medians over seeds), one
    row each, sortable by any column and filterable by words."""
    f = ctx.all_files.copy()
    f["kb"] = f["bytes"] / 1000
    cols = [c for c in RESULT_COLUMNS if c[1] in f.columns]
    head = "".join(f"<th>{html.escape(h)}</th>" for h, *_ in cols) + "<th>file</th>"
    rows = []
    for r in f.to_dict("records"):
        cells = []
        for _, col, digits, numeric in cols:
            v = r[col]
            if numeric:
                key, shown = _num(float(v) if v == v and v is not None else math.nan, digits)
                cells.append(f'<td class="num" data-v="{key}">{shown}</td>')
            else:
                text = str(v).lower() if isinstance(v, (bool,)) or col == "dither" else str(v)
                cells.append(f"<td>{html.escape(text)}</td>")
        cells.append(f"<td>{_link(r.get('path'), sweep_dir)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join([
        '<h2 id="all-results">All results</h2>',
        f"<p>Every file of this sweep, one row each ({len(f)} files; medians over seeds). Click a column to sort "
        "it (again to reverse); type words to keep the rows holding all of them. <span class=\"files-note\">Links "
        "open the files themselves, relative to the sweep folder.</span></p>",
        '<p><input id="filter" type="search" placeholder="filter, e.g. china 64 png8" aria-label="filter rows"> '
        f'<span id="shown">{len(f)}</span> rows shown</p>',
        f'<div class="scroll"><table id="results" class="sortable"><thead><tr>{head}</tr></thead><tbody>',
        "\n".join(rows), "</tbody></table></div>"])


def per_image(ctx: Context, sweep_dir: Path) -> str:
    """Per image: what its original is, and its files at each k (the baseline quantizer): KB, KB saved against
    the 24-bit RGB PNG of the same pixels, PSNR, and a link to the file."""
    out = ['<h2 id="per-image">Per image: the files</h2>',
           f"<p>Each image's files with {html.escape(str(ctx.baseline))} (the baseline quantizer), each encoding at its "
           "default settings: size, what it saves against the 24-bit RGB PNG of the same pixels, and the file "
           "itself.</p>"]
    f = ctx.files[ctx.files["quantizer"] == ctx.baseline]
    tc = ctx.truecolour
    by = {key: r for key, r in zip(zip(f["image"], f["k"], f["encoding"]), f.to_dict("records"))}
    for image in ctx.order["image"]:
        rows_of = [(k, enc, by[(image, k, enc)]) for k in ctx.order["k"] for enc in ctx.order["encoding"]
                   if (image, k, enc) in by]
        if not rows_of:
            continue
        first = rows_of[0][2]
        out.append(f'<h3 id="image-{_slug(image)}">{html.escape(image)}</h3>')
        out.append(f"<p>Original: {html.escape(ctx.kind(image))}, {fmt.kb(first['original_bytes'])} KB, "
                   f"{int(first['width'])}×{int(first['height'])} px.</p>")
        rows = []
        for k, enc, r in rows_of:
            rgb = by.get((image, k, tc), {}).get("bytes") if tc else None
            saved = "–" if rgb is None or enc == tc else f"{fmt.kb(rgb - r['bytes'])} KB ({fmt.ratio(r['bytes'] / rgb)})"
            rows.append(f"<tr><td>{k}</td><td>{html.escape(enc)}</td><td class=\"num\">{fmt.kb(r['bytes'])}</td>"
                        f"<td>{saved}</td><td class=\"num\">{fmt.db(r['psnr'])}</td>"
                        f"<td>{_link(r.get('path'), sweep_dir)}</td></tr>")
        out.append("<table><thead><tr><th>k</th><th>encoding</th><th>KB</th><th>saved against 24-bit RGB</th>"
                   "<th>PSNR dB</th><th>file</th></tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>")
    return "\n".join(out)


def page(ctx: Context, report_md: str, sweep_dir: Path) -> str:
    """The whole page."""
    md = report_md
    tail = ""
    if PROVENANCE in md:  # provenance stays last: the tables go before it
        md, tail = md.split(PROVENANCE, 1)
        tail = PROVENANCE + tail
    body = [markdown(md, sweep_dir)]
    if len(ctx.all_files) and ctx.order:
        body += [results_table(ctx, sweep_dir), per_image(ctx, sweep_dir)]
    if tail:
        body.append(markdown(tail, sweep_dir))
    title = "Why is my file this size? — kqbench report"
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body><main>",
        *body, f"</main><script>{SCRIPT}</script></body></html>", ""])


def write(ctx: Context, report_md: str, sweep_dir: Path) -> Path:
    """Write ``sweep_dir/report.html`` (atomically); return its path."""
    import os

    path = Path(sweep_dir) / "report.html"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page(ctx, report_md, Path(sweep_dir)), encoding="utf-8")
    os.replace(tmp, path)
    return path


def unlink_files(text: str) -> str:
    """The page with its links to the sweep's files turned into plain names (for a copy of the report kept
    without those files, such as ``results/reference/``)."""
    text = re.sub(r'<a class="file" href="[^"]*">([^<]*)</a>', r"\1", text)
    return re.sub(r'<span class="files-note">[^<]*</span>',
                  "The files themselves are not kept with this copy of the report: the names are those the sweep "
                  "wrote.", text)
