"""Render the HTML reports in headless Chromium, check that they work, and screenshot them.

    python scripts/screenshot_reports.py                   # check, then write docs/img/*.png
    python scripts/screenshot_reports.py --out /tmp/shots  # the PNGs somewhere else
    python scripts/screenshot_reports.py --check-only --out "$(mktemp -d)"   # what CI runs

Pages: one run of each condition (a fixture whose verdict is that condition
alone; a changed verdict is a failure, so the pictures never show what the
README no longer says) and the sweep of every ``fixtures/*.csv``. Each page
is written by the command line (``diagnose FILE... --format html -o PAGE``),
as a user makes it, and loaded from a ``file://`` URL; the Python API says
what each page should hold.

It fails (exit 1, one line per problem on stderr) when a page does not
render or does not work:

- a JavaScript exception, or an error in the console (``console.error``,
  a resource that failed, a blocked load);
- a request for anything but the page itself, or a reference to an external
  URL in the page (``http:``, ``https:``, ``//host``; namespace names such as
  ``http://www.w3.org/2000/svg`` are identifiers, never fetched, and allowed);
- one run: no figure ``<svg>`` with curves, drawn at a visible size; the
  verdict on the page is not the expected one;
- the sweep: the runs table, the small multiples or the per-run sections
  hold fewer entries than there are runs; a small multiple draws nothing;
  sorting by a column does not order the rows (both directions); the
  condition filter or the name search shows other rows than it should, or
  a wrong count; a link to a run does not open its section;
- any page: a code block without its copy button (the script did not run).

The interactions are driven from outside through the DevTools protocol
(clicks, a select's change event, typing into the search box), so the page
under test is the product's page, byte for byte. Only the ``chromium``
binary and the standard library are needed: the protocol runs over
``--remote-debugging-pipe``; ``--dump-dom`` and ``--enable-logging`` could
not report an exception's line, a request, or the result of a click.

Exit codes: 0 every page works, 1 a page failed a check (or a verdict
changed), 2 Chromium or matplotlib is missing, or Chromium would not start.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import itertools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# One page per condition: (condition, fixture). Each fixture's verdict is that
# condition alone, and its curve shows it plainly.
PAGES = (
    ("overfitting", "digits_overfit_noise"),
    ("underfitting", "digits_underfit_epochs"),
    ("lr_too_high", "cls5_high_adam_diverge"),
    ("lr_too_low", "cls5_low_1e-6"),
    ("healthy", "digits_healthy_sgd"),
)
# Window width in CSS pixels (the page's text column is at most 1100 px wide);
# screenshots are taken at a device scale of 1.
WIDTH = 1024
# The tallest a one-run screenshot gets (the page is cut below it).
MAX_HEIGHT = 2400
# The sweep screenshots: the top of the page (summary, controls, table) and
# the small multiples.
SWEEP_HEIGHT = 1100
CURVES_HEIGHT = 620
PNG_WARN_BYTES = 300_000

# Namespace names: identifiers in xmlns attributes, never fetched.
NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink",
              "http://www.w3.org/1999/xhtml", "http://www.w3.org/XML/1998/namespace",
              "http://purl.org/dc/elements/1.1/", "http://creativecommons.org/ns#",
              "http://www.w3.org/1999/02/22-rdf-syntax-ns#")
URL_IN_TEXT = re.compile(r"(?:\b[a-z][a-z0-9+.-]*:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<>)]*",
                         re.IGNORECASE)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class BrowserError(RuntimeError):
    """Chromium would not start, or stopped answering."""


# --- a DevTools protocol client over --remote-debugging-pipe -------------------

class Chromium:
    """Headless Chromium driven through the DevTools protocol over a pipe.

    Chromium reads commands on its fd 3 and writes answers and events on its
    fd 4, each message a JSON text ended by a NUL byte. Pages are opened as
    targets attached in "flat" mode, so one pipe carries every page's session.
    """

    def __init__(self, binary: str, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="kd-chromium-")
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--disable-default-apps", "--hide-scrollbars",
            "--mute-audio", "--force-device-scale-factor=1", "--force-color-profile=srgb",
            "--font-render-hinting=none", "about:blank",
        ]
        # Chromium expects the pipe on its fds 3 and 4. The ends are first moved
        # above 9 (so that neither is 3 or 4 already), then put in place in the
        # child between fork and exec; dup2 leaves them open across exec, every
        # other descriptor of this process is close-on-exec (PEP 446). Debian's
        # /usr/bin/chromium is a shell script that execs the binary: the
        # descriptors survive both execs.
        high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def put_pipe_on_3_and_4() -> None:
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        try:
            self.proc = subprocess.Popen(
                [binary, *args], stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                close_fds=False, preexec_fn=put_pipe_on_3_and_4,  # noqa: PLW1509 (no threads)
                start_new_session=True)
        except OSError as exc:
            for fd in (self._to_chrome, self._from_chrome):
                os.close(fd)
            self._log.close()
            shutil.rmtree(self.profile, ignore_errors=True)
            raise BrowserError(str(exc)) from None
        finally:
            os.close(high_r)
            os.close(high_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        try:
            self.send("Browser.getVersion")
        except BrowserError:
            self.close()
            raise

    # messages

    def _write(self, message: dict) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            try:
                written = os.write(self._to_chrome, data)
            except (BrokenPipeError, OSError) as exc:
                raise BrowserError(f"Chromium stopped reading commands ({exc}){self._tail()}") \
                    from None
            data = data[written:]

    def _read(self, deadline: float) -> dict | None:
        """The next message, or None at the deadline."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                try:
                    status = f"exit status {self.proc.wait(timeout=2)}"
                except subprocess.TimeoutExpired:
                    status = "still running"
                raise BrowserError(f"Chromium closed the DevTools pipe ({status}){self._tail()}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _tail(self) -> str:
        self._log.seek(0)
        lines = [ln for ln in self._log.read().decode("utf-8", "replace").splitlines()
                 if ln.strip() and "dbus" not in ln and "unexpected operator" not in ln]
        return (": " + " | ".join(lines[-5:])) if lines else ""

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and wait for its answer; events that come meanwhile are kept."""
        self._next_id += 1
        ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._write(message)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read(deadline)
            if reply is None:
                raise BrowserError(f"no answer to {method} within {timeout or self.timeout:.0f} s")
            if reply.get("id") == ident:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for event in self.events:
                if event["method"] == method and event.get("sessionId") == session:
                    return event
            message = self._read(deadline)
            if message is None:
                raise BrowserError(f"no {method} within {timeout or self.timeout:.0f} s")
            if "method" in message:
                self.events.append(message)

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive within ``seconds``."""
        deadline = time.monotonic() + seconds
        while (message := self._read(deadline)) is not None:
            if "method" in message:
                self.events.append(message)

    def new_page(self, width: int = WIDTH, height: int = 900) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        page = Page(self, target, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        page.resize(width, height)
        return page

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self._write({"id": 0, "method": "Browser.close", "params": {}})
                self.proc.wait(timeout=10)
        except (BrowserError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # the group we started
                except ProcessLookupError:
                    pass
                self.proc.wait()
            for fd in (self._to_chrome, self._from_chrome):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._log.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    """One tab: load a URL, evaluate JavaScript in it, take screenshots."""

    def __init__(self, browser: Chromium, target: str, session: str):
        self.browser, self.target, self.session = browser, target, session
        self.url = ""

    def send(self, method: str, params: dict | None = None) -> dict:
        return self.browser.send(method, params, session=self.session)

    def resize(self, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def load(self, url: str, timeout: float | None = None) -> float:
        """Navigate and wait for the load event; the wall seconds it took."""
        b = self.browser
        b.events = [e for e in b.events if e.get("sessionId") != self.session]
        self.url = url
        start = time.perf_counter()
        answer = self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise BrowserError(f"cannot load {url}: {answer['errorText']}")
        b.wait_event("Page.loadEventFired", self.session, timeout)
        elapsed = time.perf_counter() - start
        b.drain(0.2)  # late console messages
        return elapsed

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (a promise is awaited)."""
        answer = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"check script failed: {text}")
        return answer["result"].get("value")

    def problems(self) -> list[str]:
        """What went wrong while loading and using the page: exceptions, console errors, requests."""
        out = []
        for e in self.browser.events:
            if e.get("sessionId") != self.session:
                continue
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                text = d.get("exception", {}).get("description") or d.get("text", "")
                out.append(f"uncaught exception at line {d.get('lineNumber', 0) + 1}: "
                           f"{_one_line(text)}")
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
                out.append(f"console.{p['type']}: {_one_line(args)}")
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") == "error":
                entry = p["entry"]
                out.append(f"console error ({entry.get('source')}): {_one_line(entry['text'])}"
                           + (f" [{entry['url']}]" if entry.get("url") else ""))
            elif e["method"] == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if url != self.url and not url.startswith(("data:", "about:")):
                    out.append(f"requests {url}")
        return out

    def screenshot(self, height: int, y: float = 0, width: int = WIDTH) -> bytes:
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True, "fromSurface": True,
            "clip": {"x": 0, "y": y, "width": width, "height": height, "scale": 1}})
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def find_chromium(explicit: str | None = None) -> str | None:
    for name in ([explicit] if explicit else [os.environ.get("CHROMIUM"), *BROWSERS]):
        if name and (found := shutil.which(name)):
            return found
    return None


# --- checks -------------------------------------------------------------------

def external_references(page: str) -> list[str]:
    """External URLs in the page's source (namespace names in xmlns attributes are allowed)."""
    text = re.sub(r"""\bxmlns(?::[\w-]+)?\s*=\s*(["'])[^"']*\1""", "", page)
    return sorted({u for u in URL_IN_TEXT.findall(text) if not u.startswith(NAMESPACES)})


# In the page, after its scripts ran: attributes and style sheets that would
# make the browser fetch or follow something outside the page.
DOM_REFERENCES_JS = r"""(() => {
  const urlAttrs = new Set(['src','href','xlink:href','srcset','action','formaction','poster',
    'data','background','ping','manifest','cite','longdesc','codebase','archive']);
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const v = a.value.trim();
      if (a.name === 'xmlns' || a.name.startsWith('xmlns:')) continue;
      if ((urlAttrs.has(a.name) && v && !v.startsWith('#') && !v.startsWith('data:'))
          || /^(https?:|ftp:|wss?:)?\/\/[^\/\s]/i.test(v))
        found.push('<' + el.tagName.toLowerCase() + ' ' + a.name + '="' + v.slice(0, 80) + '">');
    }
  }
  const css = Array.from(document.querySelectorAll('style')).map(s => s.textContent)
    .concat(Array.from(document.querySelectorAll('[style]')).map(e => e.getAttribute('style')));
  for (const text of css) {
    for (const m of text.matchAll(/url\(\s*['"]?([^)'"]*)/g))
      if (!m[1].startsWith('#') && !m[1].startsWith('data:')) found.push('url(' + m[1] + ')');
    if (/@import/.test(text)) found.push('@import');
  }
  for (const r of performance.getEntriesByType('resource')) found.push('loaded ' + r.name);
  return found;
})()"""

COPY_BUTTONS_JS = r"""(() => {
  const codes = document.querySelectorAll('pre > code').length;
  const buttons = document.querySelectorAll('pre > button.copy').length;
  return {codes, buttons};
})()"""

ONE_RUN_JS = r"""(() => {
  const svg = document.querySelector('.figure svg');
  const badges = Array.from(document.querySelectorAll('main h2 .verdict')).map(b => b.textContent);
  if (!svg) return {svg: false, badges};
  const box = svg.getBoundingClientRect();
  const lines = svg.querySelectorAll('.kd-line path, .kd-line polyline, .kd-line use').length;
  const drawn = Array.from(svg.querySelectorAll('path')).filter(p => (p.getAttribute('d') || '').length > 20).length;
  return {svg: true, width: box.width, height: box.height, lines, drawn, badges,
          height_page: document.documentElement.scrollHeight};
})()"""

SWEEP_COUNTS_JS = r"""(() => ({
  rows: document.querySelectorAll('table#kd-runs tbody tr[data-run]').length,
  cells: document.querySelectorAll('.grid .cell svg').length,
  blank: Array.from(document.querySelectorAll('.grid .cell'))
    .filter(c => !c.querySelector('svg .kd-line, svg .kd-mark'))
    .map(c => c.getAttribute('data-source')),
  details: document.querySelectorAll('details[data-run]').length,
  heads: Array.from(document.querySelectorAll('table#kd-runs thead th')).map(th => th.textContent.trim()),
  shown: (document.getElementById('kd-shown') || {}).textContent,
  options: Array.from(document.querySelectorAll('#kd-filter option')).map(o => [o.value, o.textContent]),
}))()"""

# Click a column's header and read back the column, as the user sees it.
SORT_JS = r"""((name) => {
  const table = document.querySelector('table#kd-runs');
  const heads = Array.from(table.tHead.rows[0].cells);
  const i = heads.findIndex(th => th.textContent.trim() === name);
  if (i < 0) return {error: 'no column ' + name};
  heads[i].click();
  const rows = Array.from(table.tBodies[0].rows);
  return {sort: heads[i].getAttribute('aria-sort'), rows: rows.length,
          values: rows.map(r => { const c = r.cells[i];
                                  const v = c.getAttribute('data-sort');
                                  return v === null ? c.textContent.trim() : v; })};
})"""

FILTER_JS = r"""((want, query) => {
  const pick = document.getElementById('kd-filter'), text = document.getElementById('kd-search');
  pick.value = want; pick.dispatchEvent(new Event('change', {bubbles: true}));
  text.value = query; text.dispatchEvent(new Event('input', {bubbles: true}));
  const rows = Array.from(document.querySelectorAll('table#kd-runs tbody tr[data-run]'));
  const should = r => (!want || (' ' + r.getAttribute('data-conditions') + ' ').includes(' ' + want + ' '))
                      && (!query || r.getAttribute('data-source').toLowerCase().includes(query.toLowerCase()));
  const visible = r => !r.hidden && r.getClientRects().length > 0;
  const cells = Array.from(document.querySelectorAll('.grid .cell[data-run]'));
  return {shown: Number(document.getElementById('kd-shown').textContent),
          visible: rows.filter(visible).length, expected: rows.filter(should).length,
          wrong: rows.filter(r => visible(r) !== should(r)).map(r => r.getAttribute('data-source')).slice(0, 3),
          cells_wrong: cells.filter(c => visible(c) !== should(c)).length};
})"""


def _ordered(values: list, ascending: bool) -> bool:
    """True when ``values`` are sorted, blanks ("" or "-") last, numbers as numbers."""
    def key(v):
        try:
            return (0, float(v), "")
        except (TypeError, ValueError):
            return (1, 0.0, str(v).lower())

    filled = [v for v in values if v not in ("", "-")]
    blanks_last = all(v in ("", "-") for v in values[len(filled):])
    keys = [key(v) for v in filled]
    pairs = itertools.pairwise(keys)
    return blanks_last and all((a <= b) if ascending else (a >= b) for a, b in pairs)


def check_page_basics(page: Page, source: str) -> list[str]:
    problems = page.problems()
    problems += [f"external reference {u}" for u in external_references(source)]
    problems += [f"external reference in the DOM: {u}" for u in page.evaluate(DOM_REFERENCES_JS)]
    copy = page.evaluate(COPY_BUTTONS_JS)
    if copy["buttons"] != copy["codes"]:
        problems.append(f"{copy['codes']} code blocks but {copy['buttons']} copy buttons "
                        "(the page's script did not run through)")
    return problems


def check_one_run(page: Page, condition: str) -> tuple[list[str], int]:
    """Problems of a one-run page, and the page's height."""
    got = page.evaluate(ONE_RUN_JS)
    problems = []
    if not got["svg"]:
        return ["no figure <svg> in the page after its scripts ran"], 0
    if got["width"] < 300 or got["height"] < 200:
        problems.append(f"the figure is drawn {got['width']:.0f}x{got['height']:.0f} px")
    if got["lines"] < 1 or got["drawn"] < 2:
        problems.append(f"the figure has no curves ({got['lines']} curve elements, "
                        f"{got['drawn']} drawn paths)")
    if got["badges"] != [condition]:
        problems.append(f"the page's verdict is {got['badges']}, expected [{condition!r}]")
    return problems, int(got["height_page"])


def check_sweep(page: Page, reports: list) -> list[str]:
    n = len(reports)
    got = page.evaluate(SWEEP_COUNTS_JS)
    problems = []
    for what, count in (("table rows", got["rows"]), ("small multiples", got["cells"]),
                        ("run sections", got["details"])):
        if count != n:
            problems.append(f"{count} {what} for {n} runs")
    if got["blank"]:
        problems.append(f"{len(got['blank'])} of {got['cells']} small multiples draw no curve "
                        f"and no mark (e.g. {', '.join(got['blank'][:3])})")
    if str(got["shown"]).strip() != str(n):
        problems.append(f"the page says {got['shown']} shown, not {n}")
    if got["rows"] == 0:
        return problems + ["the runs table is empty"]

    for column in ("epochs", "best", "run", "verdict"):
        if column not in got["heads"]:
            problems.append(f"the runs table has no column {column!r} (columns: {got['heads']})")
            continue
        for ascending in (True, False):
            result = page.evaluate(f"{SORT_JS}({json.dumps(column)})")
            want = "ascending" if ascending else "descending"
            if result.get("error") or result["sort"] != want or result["rows"] != got["rows"]:
                problems.append(f"sorting by {column!r}: {result.get('error') or result['sort']}, "
                                f"{result.get('rows')} rows")
            elif not _ordered(result["values"], ascending):
                problems.append(f"sorting by {column!r} {want} leaves the rows out of order: "
                                f"{result['values'][:8]}...")

    counts = {c: sum(c in r.conditions for r in reports) for c in
              {c for r in reports for c in r.conditions}}
    cases = [(value, "") for value, _ in got["options"]]
    some = reports[0].source.replace("\\", "/").split("/")[-1].split("_")[0]
    cases += [("", some), (next((v for v, _ in got["options"] if v), ""), some), ("", "")]
    for value, label in got["options"]:
        if value and f"({counts.get(value, 0)})" not in label:
            problems.append(f"filter option {label!r}: {counts.get(value, 0)} runs have {value}")
    for want, query in cases:
        r = page.evaluate(f"{FILTER_JS}({json.dumps(want)}, {json.dumps(query)})")
        what = f"filter {want or 'all'!r}" + (f" and search {query!r}" if query else "")
        if r["wrong"] or r["visible"] != r["expected"]:
            problems.append(f"{what}: {r['visible']} rows shown, {r['expected']} expected "
                            f"(wrongly shown or hidden: {r['wrong']})")
        if r["shown"] != r["expected"]:
            problems.append(f"{what}: the count says {r['shown']}, {r['expected']} rows match")
        if r["cells_wrong"]:
            problems.append(f"{what}: {r['cells_wrong']} small multiples shown or hidden wrongly")
        if want and query == "" and r["expected"] == 0:
            problems.append(f"{what}: no run matches an offered condition")
    opened = page.evaluate("location.hash = '#run-2'; new Promise(r => setTimeout(() => "
                           "r(document.getElementById('run-2').open), 50))")
    if not opened:
        problems.append("a link to a run (#run-2) does not open its section")
    return problems


CURVES_TOP_JS = """(() => {
  const h = Array.from(document.querySelectorAll('h2')).find(h => h.textContent === 'Curves');
  return h ? window.scrollY + h.getBoundingClientRect().top - 8 : 0;
})()"""


def visit(page: Page, path: Path, what: str, html_text: str, sweep: list,
          shoot: bool) -> tuple[float, list[str], list[tuple[str, bytes]]]:
    """Load one page and check it: (seconds to load, problems, screenshots as (name, PNG))."""
    seconds = page.load(path.resolve().as_uri())
    problems, height = ([], 0) if what == "sweep" else check_one_run(page, what)
    problems = check_page_basics(page, html_text) + problems
    shots = []
    if shoot and not problems:
        if what == "sweep":
            shots.append(("sweep.png", page.screenshot(SWEEP_HEIGHT)))
            top = max(page.evaluate(CURVES_TOP_JS), 0)
            shots.append(("sweep_curves.png", page.screenshot(CURVES_HEIGHT, y=top)))
        else:
            shots.append((f"{what}.png", page.screenshot(min(height + 16, MAX_HEIGHT))))
    if what == "sweep":  # the interactions last: they reorder and hide rows
        problems += check_sweep(page, sweep)
        page.browser.drain(0.1)
        problems += page.problems()  # errors the interactions caused
    return seconds, list(dict.fromkeys(problems)), shots


# --- the run ------------------------------------------------------------------

def write_page(path: Path, inputs: list[str]) -> tuple[str, str | None]:
    """Run ``diagnose INPUTS --format html -o PATH``: (the page, None) or ("", what went wrong)."""
    cmd = [sys.executable, "-m", "diagnose", *inputs, "--format", "html", "-o", str(path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not path.exists():
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return "", f"`diagnose ... --format html` exited {proc.returncode}: {last}"
    return path.read_text(encoding="utf-8"), None


def smaller_png(data: bytes) -> bytes:
    """The screenshot with a 256-colour palette (a third of the bytes, no visible loss on
    flat page colours and hatching), when Pillow is there (matplotlib brings it)."""
    try:
        from PIL import Image
    except ImportError:
        return data
    import io

    image = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, "PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        help="where the screenshots go (default docs/img); with --check-only, "
                             "where the checked HTML pages are kept (default: nowhere)")
    parser.add_argument("--check-only", action="store_true",
                        help="load and check the pages, take no screenshots")
    parser.add_argument("--chromium", help="the Chromium binary (default: chromium on PATH, "
                                           "or $CHROMIUM)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for Chromium to answer (default 60)")
    args = parser.parse_args(argv)
    keep_pages = args.check_only and args.out is not None
    args.out = (args.out or ROOT / "docs" / "img").resolve()
    os.chdir(ROOT)  # reports name their fixtures as fixtures/NAME.csv

    binary = find_chromium(args.chromium)
    if binary is None:
        print("screenshot_reports: Chromium not found (looked for "
              f"{args.chromium or ', '.join(BROWSERS)} on PATH): install it with "
              "`apt-get install chromium` (Debian) or pass --chromium PATH", file=sys.stderr)
        return 2

    import diagnose
    from diagnose.figure import has_matplotlib

    if not has_matplotlib():
        print("screenshot_reports: the pages' figures need matplotlib: "
              "pip install 'keras-diagnose[plot]'", file=sys.stderr)
        return 2

    # What each page should show, from the Python API.
    failures: list[str] = []
    one_runs = []
    for condition, name in PAGES:
        source = f"fixtures/{name}.csv"
        report = diagnose.diagnose(source)
        if report.conditions != (condition,):
            failures.append(f"{source}: verdict is {list(report.conditions)}, this script "
                            f"shows it as {condition!r} alone: pick another fixture in PAGES")
        one_runs.append((condition, source))
    logs = [f"fixtures/{p.name}" for p in sorted(Path("fixtures").glob("*.csv"))]
    sweep = [diagnose.diagnose(log) for log in logs]

    if keep_pages or not args.check_only:
        args.out.mkdir(parents=True, exist_ok=True)
    pages_dir = args.out if keep_pages else Path(tempfile.mkdtemp(prefix="kd-pages-"))
    try:
        # The pages themselves, from the command line, as a user makes them.
        pages = [(f"{c}.html", c, src, [src]) for c, src in one_runs]
        pages.append(("sweep.html", "sweep", f"{len(logs)} fixtures", logs))
        made = []
        for file, what, source, inputs in pages:
            html_text, error = write_page(pages_dir / file, inputs)
            if error:
                failures.append(f"{file} ({source}): {error}")
            else:
                made.append((file, what, source, html_text))
        pages = made

        try:
            browser = Chromium(binary, timeout=args.timeout)
        except BrowserError as exc:
            print(f"screenshot_reports: Chromium ({binary}) would not start: {exc}",
                  file=sys.stderr)
            return 2
        with browser:
            version = browser.send("Browser.getVersion")["product"]
            print(f"{version} ({binary}), window {WIDTH} px wide")
            for file, what, source, html_text in pages:
                page = browser.new_page()
                try:
                    seconds, problems, shots = visit(page, pages_dir / file, what, html_text,
                                                     sweep, not args.check_only)
                except BrowserError as exc:  # a check could not run: the page fails
                    seconds, problems, shots = 0.0, [str(exc)], []
                finally:
                    page.close()
                if problems:
                    failures += [f"{file} ({source}): {p}" for p in problems]
                    print(f"FAIL {file:18} {source}  {len(problems)} problem(s)")
                    continue
                print(f"ok   {file:18} {source}  loaded in {seconds:.2f} s, "
                      f"{len(html_text.encode()) / 1024:.0f} kB")
                for png, data in shots:
                    target = args.out / png
                    data = smaller_png(data)
                    target.write_bytes(data)
                    w, h = png_size(data)
                    note = "" if len(data) <= PNG_WARN_BYTES else "  (over 300 kB)"
                    print(f"       -> {target} {w}x{h}, {len(data) / 1024:.0f} kB{note}")
    except BrowserError as exc:
        failures.append(f"Chromium: {exc}")
    finally:
        if not keep_pages:
            shutil.rmtree(pages_dir, ignore_errors=True)

    for line in failures:
        print(f"screenshot_reports: {line}", file=sys.stderr)
    if failures:
        return 1
    if keep_pages:
        print(f"every page works; the pages are in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
