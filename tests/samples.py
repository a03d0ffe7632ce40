"""Sample article files the tests write: a news page, a Markdown post, a PDF with one sentence a page."""
from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

# A Markdown post using most of the syntax people write: the reader must leave none of it in the text.
SOLAR_MD = """---
date: 2025-06-02
author: Lena Ashby
---
# Ashby solar cooperative goes live

The **Ashby solar cooperative** switched on its *first* array on __Monday__, powering
[the village hall](https://ashby.example.org/hall) and 140 homes.

## What was built

- **300 panels** on the old _mill_ roof
- A battery bank of `12` units
  - installed by *Northfield Electrical*

1. Members paid £250 each.
2. A grant covered the rest.

| Year | Output |
| ---- | ------ |
| 2025 | **1.2 GWh** |

> "It is the village's ~~first~~ biggest project since the bridge," said chair *Tom Reyes*.

![Panels on the mill roof](mill.png)

```
output_kwh = 1200000
```
"""

NEWS_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>City Council Approves New River Bridge | The Daily Ledger</title>
<meta property="og:title" content="City Council Approves New River Bridge">
<meta property="og:url" content="https://news.example.com/2024/03/05/river-bridge">
<meta name="author" content="Maria Gonzalez">
<meta property="article:published_time" content="2024-03-05T09:30:00Z">
<style>body { font-family: sans-serif; } .ad { color: red; } .STYLEMARKER { }</style>
<script>var trackingPixel = "SCRIPTMARKER"; window.dataLayer = [];</script>
</head>
<body>
<header>
  <div class="logo">The Daily Ledger</div>
  <ul class="menu">
    <li><a href="/">Home</a></li>
    <li><a href="/world">World Affairs Section</a></li>
    <li><a href="/sports">Sports Scores Today</a></li>
    <li><a href="/subscribe">Subscribe Now For Discounts</a></li>
  </ul>
</header>
<nav><a href="/politics">Politics Menu Link</a> | <a href="/business">Business Menu Link</a></nav>
<div class="ad advertisement" id="banner-ad">Buy cheap widgets at WidgetMart, the best deals in town!</div>
<main>
<article>
<h1>City Council Approves New River Bridge</h1>
<p>The city council voted seven to two on Tuesday evening to approve construction of a new
pedestrian bridge across the Alder River, ending a debate that has lasted nearly a decade.</p>
<p>The bridge, estimated to cost 42 million dollars, will connect the Riverside district with the
downtown business area and is expected to open to the public in the spring of 2027.</p>
<p>Council member Janet Okafor said the project would cut commuting times for thousands of
residents who currently rely on a single overcrowded road crossing.</p>
<p>Opponents argued that the money should instead be spent on repairing existing roads, and several
residents spoke against the plan during a public comment session that lasted more than three hours.</p>
<p>Engineers from the regional transport authority will begin soil surveys next month, and the final
design is due to be presented to the council in the autumn.</p>
</article>
</main>
<aside class="sidebar"><h3>Most Read</h3><ul><li><a href="/a">Sidebar Popular Story One</a></li></ul></aside>
<footer><p>Copyright 2024 The Daily Ledger. All rights reserved. Footer contact information.</p></footer>
<script>console.log("SCRIPTMARKER2");</script>
</body>
</html>
"""

PDF_SENTENCES = (
    "The first page explains how apples are harvested in autumn.",
    "The second page describes the banana export market.",
    "The third page covers cherry blossom festivals.",
)


def write_pdf(path: Path, pages: tuple[str, ...], title: str | None = None, author: str | None = None) -> None:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    pdf.set_font("Helvetica", size=12)
    for sentence in pages:
        pdf.add_page()
        if sentence:
            pdf.multi_cell(0, 10, sentence)
    pdf.output(str(path))
