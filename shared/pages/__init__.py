"""The app's own pages: server-rendered HTML of what serves, runs, models and drift.

The top layer: it reads what the others store and imports from any of them; nothing imports it but
`functions/pages.py`. As in Evidently or NannyML, the numbers and the drawing are kept apart:
- `data.py`: what each page shows, as dataclasses, from storage reads and pure functions over them
  (run records, the registry, drift reports, JUnit XML through `shared.repo.junit`, `shared.chain.cost`);
- `render.py` and `charts.py`: HTML and inline SVG from those dataclasses, with no storage access.

Pages need no build step and load nothing from elsewhere: CSS and SVG are inline, and the answers
carry a Content-Security-Policy that forbids any other source. Every value is HTML-escaped. Links
between pages carry the function key given as `?code=` so they work under function-key auth.
"""
