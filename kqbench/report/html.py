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
import json
import math
import re
from pathlib import Path

import numpy as np

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
  function compare(x,y,asc){
    var nx=typeof x==='number'&&!isNaN(x),ny=typeof y==='number'&&!isNaN(y);
    if(nx&&!ny){return -1;}if(ny&&!nx){return 1;}
    var c=nx?(x-y):String(x).localeCompare(String(y));
    return asc?c:-c;
  }
  function heads(table,sorter){
    var cells=table.tHead.rows[0].cells;
    Array.prototype.forEach.call(cells,function(th,col){
      th.addEventListener('click',function(){
        var asc=th.getAttribute('aria-sort')!=='ascending';
        Array.prototype.forEach.call(cells,function(h){h.removeAttribute('aria-sort');});
        th.setAttribute('aria-sort',asc?'ascending':'descending');
        sorter(col,asc);
      });
    });
  }
  // small tables: sort the rows in place
  document.querySelectorAll('table.sortable:not(#results)').forEach(function(table){
    heads(table,function(col,asc){
      var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){return compare(key(a.cells[col]),key(b.cells[col]),asc);});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
  // the results table: every row is in the page's data; one page of it is shown
  var source=document.getElementById('results-data');
  if(!source){return;}
  var spec=JSON.parse(source.textContent),cols=spec.columns,all=spec.rows,table=document.getElementById('results');
  var shown=all.slice(),page=0,texts=null;
  function num(v){if(v==='inf'){return Infinity;}if(v==='-inf'){return -Infinity;}return v===null?NaN:v;}
  function show(v,c){
    if(!c[2]){return String(v);}
    var x=num(v);if(isNaN(x)){return '\\u2013';}if(!isFinite(x)){return x>0?'\\u221e':'-\\u221e';}
    if(c[1]!==null){return x.toFixed(c[1]);}
    if(x===0){return '0';}
    return x.toFixed(Math.max(0,2-Math.floor(Math.log10(Math.abs(x)))));
  }
  function text(r){return r.slice(0,cols.length).map(function(v,i){return show(v,cols[i]);}).join(' ')+' '+
    (r[cols.length]||'').split('/').pop();}
  function render(){
    var pages=Math.max(1,Math.ceil(shown.length/spec.page));page=Math.min(page,pages-1);
    var body=document.createElement('tbody');
    shown.slice(page*spec.page,(page+1)*spec.page).forEach(function(r){
      var tr=document.createElement('tr');
      cols.forEach(function(c,i){
        var td=document.createElement('td');td.textContent=show(r[i],c);
        if(c[2]){td.className='num';var x=num(r[i]);td.setAttribute('data-v',isNaN(x)?'':String(x));}
        tr.appendChild(td);
      });
      var td=document.createElement('td'),path=r[cols.length];
      if(path&&spec.links){var a=document.createElement('a');a.className='file';a.href=path;
        a.textContent=path.split('/').pop();td.appendChild(a);}else{td.textContent='\\u2013';}
      tr.appendChild(td);body.appendChild(tr);
    });
    table.replaceChild(body,table.tBodies[0]);
    document.getElementById('shown').textContent=shown.length;
    document.getElementById('page').textContent=page+1;
    document.getElementById('pages').textContent=pages;
    document.getElementById('prev').disabled=page===0;
    document.getElementById('next').disabled=page>=pages-1;
  }
  var input=document.getElementById('filter');
  function filter(){  // the rows holding every word typed, in the current order
    var terms=input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    if(!terms.length){shown=all.slice();return;}
    if(texts===null){texts=new Map(all.map(function(r){return [r,text(r).toLowerCase()];}));}
    shown=all.filter(function(r){var t=texts.get(r);return terms.every(function(w){return t.indexOf(w)>=0;});});
  }
  heads(table,function(col,asc){
    var numeric=col<cols.length&&cols[col][2];
    all.sort(function(a,b){return compare(numeric?num(a[col]):a[col],numeric?num(b[col]):b[col],asc);});
    filter();page=0;render();
  });
  input.addEventListener('input',function(){filter();page=0;render();});
  document.getElementById('prev').addEventListener('click',function(){page=Math.max(0,page-1);render();});
  document.getElementById('next').addEventListener('click',function(){page=page+1;render();});
  render();
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


def _link(path, sweep_dir: Path, checked: bool = False) -> str:
    """A link to a kept file (``checked``: its existence is already known), else a dash."""
    if isinstance(path, str) and path and (checked or (sweep_dir / path).is_file()):
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


PAGE_ROWS = 100  # rows of the results table on one page


def _cell(value, digits, numeric) -> str:
    """A table cell's text, as :func:`_num` (numbers) or the value as text."""
    if numeric:
        return _num(value, digits)[1]
    return str(value).lower() if isinstance(value, (bool, np.bool_)) else str(value)


def _json_number(value, digits):
    """A number as the page's data holds it: rounded as shown (the script formats it again), ``"inf"`` for
    infinity, None when missing."""
    if value is None or value != value:
        return None
    value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if digits is not None:
        return round(value, digits) if digits else int(round(value))
    return float(fmt.seconds(value)) if value else 0


def results_table(ctx: Context, sweep_dir: Path) -> str:
    """Every file of the sweep (dithered, lossy comparators and every setting included; medians over seeds), one
    row each, sortable by any column, filterable by words and shown :data:`PAGE_ROWS` rows a page: the first
    page is written into the page, the whole table is its data (JSON) for the script."""
    f = ctx.all_files.copy()
    f["kb"] = f["bytes"] / 1000
    cols = [c for c in RESULT_COLUMNS if c[1] in f.columns]
    head = "".join(f"<th>{html.escape(h)}</th>" for h, *_ in cols) + "<th>file</th>"
    data_rows, static = [], []
    values = {col: f[col].tolist() for _, col, *_ in cols}
    paths = f["path"].tolist() if "path" in f.columns else [None] * len(f)
    for i in range(len(f)):
        row = []
        for _, col, digits, numeric in cols:
            v = values[col][i]
            row.append(_json_number(v, digits) if numeric else _cell(v, digits, False))
        path = paths[i]
        kept = isinstance(path, str) and bool(path) and (sweep_dir / path).is_file()
        row.append(path if kept else "")
        data_rows.append(row)
        if i < PAGE_ROWS:
            cells = []
            for (_, col, digits, numeric), v in zip(cols, row):
                if numeric:
                    key, shown = _num(float(values[col][i]) if values[col][i] == values[col][i]
                                      and values[col][i] is not None else math.nan, digits)
                    cells.append(f'<td class="num" data-v="{key}">{shown}</td>')
                else:
                    cells.append(f"<td>{html.escape(v)}</td>")
            cells.append(f"<td>{_link(path if kept else None, sweep_dir, checked=True)}</td>")
            static.append("<tr>" + "".join(cells) + "</tr>")
    spec = {"columns": [[h, digits, numeric] for h, _, digits, numeric in cols], "rows": data_rows,
            "page": PAGE_ROWS, "links": True}
    payload = json.dumps(spec, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    pages = max(1, math.ceil(len(f) / PAGE_ROWS))
    return "\n".join([
        '<h2 id="all-results">All results</h2>',
        f"<p>Every file of this sweep, one row each ({len(f)} files; medians over seeds), {PAGE_ROWS} to a page. "
        "Click a column to sort it (again to reverse); type words to keep the rows holding all of them. "
        "<span class=\"files-note\">Links open the files themselves, relative to the sweep folder.</span></p>",
        '<p><input id="filter" type="search" placeholder="filter, e.g. china 64 png8" aria-label="filter rows"> '
        f'<span id="shown">{len(f)}</span> rows shown</p>',
        f'<div class="scroll"><table id="results" class="sortable"><thead><tr>{head}</tr></thead><tbody>',
        "\n".join(static), "</tbody></table></div>",
        f'<p class="pager"><button type="button" id="prev" aria-label="previous page">◀</button> page '
        f'<span id="page">1</span> of <span id="pages">{pages}</span> '
        '<button type="button" id="next" aria-label="next page">▶</button></p>',
        f'<script id="results-data" type="application/json">{payload}</script>'])


MAX_IMAGE_SECTIONS = 6  # past data.MANY_IMAGES images: the few most telling ones get a section


def telling_images(ctx: Context) -> list[tuple[str, list[str]]]:
    """The images a sweep of many images shows one by one, each with why: the answer's example, where the
    palette PNG saves the most and the least against the 24-bit RGB PNG, where it is largest against its
    original, and the hardest to quantize (the worst quality at the largest k); at most
    :data:`MAX_IMAGE_SECTIONS`."""
    from .answer import example, fix_encoding

    f, m = ctx.files, ctx.measure
    picks: dict[str, list[str]] = {}
    ex = example(ctx)
    if ex:
        picks.setdefault(ex["image"], []).append("the answer's example")
    ks = ctx.order["k"]
    mid, top = ks[len(ks) // 2], ks[-1]
    png8 = fix_encoding(ctx)
    base = f[f["quantizer"] == ctx.baseline]
    p = base[(base["encoding"] == png8) & (base["k"] == mid)].dropna(subset=["ratio_to_rgb24"]) if png8 else base[:0]
    if len(p):
        lo, hi = p.sort_values(["ratio_to_rgb24", "image"]).iloc[[0, -1]].itertuples()
        picks.setdefault(lo.image, []).append(f"the palette PNG saves the most against 24-bit RGB at k={mid} "
                                              f"({fmt.ratio(lo.ratio_to_rgb24)})")
        picks.setdefault(hi.image, []).append(f"the palette PNG saves the least against 24-bit RGB at k={mid} "
                                              f"({fmt.ratio(hi.ratio_to_rgb24)})")
        worst = p.sort_values(["ratio_to_original", "image"], ascending=[False, True]).iloc[0]
        picks.setdefault(worst["image"], []).append(f"the palette PNG is largest against its original "
                                                   f"({fmt.ratio(worst['ratio_to_original'])} at k={mid})")
    q = ctx.quant[(ctx.quant["quantizer"] == ctx.baseline) & (ctx.quant["k"] == top)].dropna(subset=[m.name])
    if len(q):
        hard = q.sort_values([m.name, "image"], ascending=[m.higher, True]).iloc[0]
        picks.setdefault(hard["image"], []).append(f"the hardest to quantize: the worst {m.shown} at k={top} "
                                                  f"({m.value(hard[m.name])})")
    return list(picks.items())[:MAX_IMAGE_SECTIONS]


def per_image(ctx: Context, sweep_dir: Path) -> str:
    """Per image: what its original is, and its files at each k (the baseline quantizer): KB, KB saved against
    the 24-bit RGB PNG of the same pixels, PSNR, and a link to the file. Past ``data.MANY_IMAGES`` images,
    only the few most telling ones (:func:`telling_images`); the table above has every file."""
    m = ctx.measure
    chosen = telling_images(ctx) if ctx.grouped else [(image, []) for image in ctx.order["image"]]
    out = ['<h2 id="per-image">Per image: the files</h2>',
           f"<p>Each image's files with {html.escape(str(ctx.baseline))} (the baseline quantizer), each encoding at its "
           "default settings: size, what it saves against the 24-bit RGB PNG of the same pixels, and the file "
           "itself.</p>"]
    if ctx.grouped:
        out.append(f"<p>{len(chosen)} of the {len(ctx.order['image'])} images, the most telling ones (why is said "
                   'under each); filter <a href="#all-results">the table of every file</a> by an image\'s name '
                   "for the others.</p>")
    images = {image for image, _ in chosen}
    f = ctx.files[(ctx.files["quantizer"] == ctx.baseline) & ctx.files["image"].isin(images)]
    tc = ctx.truecolour
    by = {key: r for key, r in zip(zip(f["image"], f["k"], f["encoding"]), f.to_dict("records"))}
    for image, why in chosen:
        rows_of = [(k, enc, by[(image, k, enc)]) for k in ctx.order["k"] for enc in ctx.order["encoding"]
                   if (image, k, enc) in by]
        if not rows_of:
            continue
        first = rows_of[0][2]
        out.append(f'<h3 id="image-{_slug(image)}">{html.escape(image)}</h3>')
        group = f", group {ctx.group_of[image]}" if ctx.grouped else ""
        out.append(f"<p>Original: {html.escape(ctx.kind(image))}, {fmt.kb(first['original_bytes'])} KB, "
                   f"{int(first['width'])}×{int(first['height'])} px{html.escape(group)}."
                   + (f" Shown because {html.escape('; '.join(why))}." if why else "") + "</p>")
        rows = []
        for k, enc, r in rows_of:
            rgb = by.get((image, k, tc), {}).get("bytes") if tc else None
            saved = "–" if rgb is None or enc == tc else f"{fmt.kb(rgb - r['bytes'])} KB ({fmt.ratio(r['bytes'] / rgb)})"
            rows.append(f"<tr><td>{k}</td><td>{html.escape(enc)}</td><td class=\"num\">{fmt.kb(r['bytes'])}</td>"
                        f"<td>{saved}</td><td class=\"num\">{m.value(r[m.name])}</td>"
                        f"<td>{_link(r.get('path'), sweep_dir)}</td></tr>")
        unit = f" {m.unit}" if m.unit else ""
        out.append("<table><thead><tr><th>k</th><th>encoding</th><th>KB</th><th>saved against 24-bit RGB</th>"
                   f"<th>{html.escape(m.shown + unit)}</th><th>file</th></tr></thead><tbody>" + "\n".join(rows)
                   + "</tbody></table>")
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
    text = text.replace(',"links":true}</script>', ',"links":false}</script>')
    return re.sub(r'<span class="files-note">[^<]*</span>',
                  "The files themselves are not kept with this copy of the report: the names are those the sweep "
                  "wrote.", text)
