"""The published site as a reader's browser sees it: headless Chromium (Debian's chromium and
chromium-driver, `make browser`) driven by Selenium opens every page of the built quick book
(conftest.quick_site), served on 127.0.0.1, and checks that it loads without console errors, that
its internal links and images resolve, that chapter figures are described, that each chapter opens
in Colab from its badge and from the launch button, and that search finds a chapter's word.
A chapter page is notebooks/<study>.html (the build stages the executed notebooks there, their path
in the repository) or, as built before that, book/executed/<study>.html; every executed notebook in
the book's book/executed/ must have one. A screenshot of every page goes to
$RLSHIFT_ARTIFACTS/screenshots/ (else <quick book>/screenshots/).

RLSHIFT_SITE=<a built _build/html> checks that site instead of building the quick book, e.g.
`RLSHIFT_SITE=_build/html pytest tests/test_site.py` after `make book`; or run this file with
python and the folder as its argument (`python tests/test_site.py _build/html`)."""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = ("install them with `make browser` (as root), or: "
           "apt-get update && apt-get install -y chromium chromium-driver")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1024"]
SEARCH_WORD = "calibration"  # a word of the Behaviour chapters
COLAB = "https://colab.research.google.com"
PAGE_TIMEOUT_S = 60
SCREENSHOT_MAX_HEIGHT = 12000  # px; a long chapter is cut there
CHAPTER_FOLDERS = ("notebooks", "book/executed")  # where a built chapter page may lie

# What one page shows, read in the browser after it loaded. Anchors-only hrefs are left out here.
PAGE_SCRIPT = """
const article = document.querySelector('article') || document.body;
const caption = img => {
  const fig = img.closest('figure');
  const cap = fig && fig.querySelector('figcaption');
  return cap ? cap.innerText.trim() : '';
};
return {
  links: Array.from(document.querySelectorAll('a[href]'))
    .filter(a => !a.getAttribute('href').startsWith('#')).map(a => a.href),
  images: Array.from(document.images).map(img => img.currentSrc || img.src).filter(s => s),
  figures: Array.from(article.querySelectorAll('img')).map(img => ({
    src: img.getAttribute('src') || '', alt: (img.getAttribute('alt') || '').trim(), caption: caption(img)})),
  badges: Array.from(article.querySelectorAll('a[href]')).filter(a => a.querySelector('img'))
    .map(a => a.href).filter(h => h.startsWith(arguments[0])),
  launch: Array.from(document.querySelectorAll('.dropdown-launch-buttons a[href]'))
    .map(a => a.href).filter(h => h.startsWith(arguments[0])),
  height: Math.max(document.body.scrollHeight, document.documentElement.scrollHeight),
  overflowing: Array.from(article.querySelectorAll('div.cell_input pre, div.cell_output pre'))
    .filter(pre => pre.offsetParent !== null && pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => (pre.innerText.split(String.fromCharCode(10)).find(line => line.trim()) || '').slice(0, 60)),
};
"""


@dataclass
class Page:
    path: str  # relative to the html folder, e.g. notebooks/calibration.html
    console_errors: list[str] = field(default_factory=list)
    offline_misses: list[str] = field(default_factory=list)  # off-site resources this closed network can't load
    links: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    badges: list[str] = field(default_factory=list)
    launch: list[str] = field(default_factory=list)
    overflowing: list[str] = field(default_factory=list)  # shown code or text cut at the page edge

    @property
    def chapter(self) -> str | None:
        """The study this page renders, or None for the other pages."""
        path = Path(self.path)
        return path.stem if path.parent.as_posix() in CHAPTER_FOLDERS else None


@dataclass
class Survey:
    html: Path
    pages: list[Page]
    broken: dict[str, list[str]]  # page -> internal links and images that are not HTTP 200
    search_hits: int
    search_error: str
    screenshots: Path
    repository: tuple[str, str, str]  # owner, repo, branch from the built copy's _config.yml
    executed: list[str]  # the studies executed into the book's book/executed/ (each needs a chapter page)


def browser_missing() -> str:
    """Why the browser test cannot run here, or '' when chromium and chromedriver are installed."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not (p.exists() and os.access(p, os.X_OK))]
    if missing:
        return f"{' and '.join(missing)} missing: the site test needs Debian's chromium and chromium-driver; {INSTALL}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -r requirements.txt"
    return ""


def repository(book_root: Path) -> tuple[str, str, str]:
    """(owner, repo, branch) from repository.url and repository.branch of the book's _config.yml."""
    config = yaml.safe_load((book_root / "_config.yml").read_text())
    repo = config.get("repository") or {}
    owner, name = urllib.parse.urlparse(repo["url"]).path.strip("/").removesuffix(".git").split("/")[:2]
    return owner, name, repo.get("branch", "main")


def colab_url(owner: str, repo: str, branch: str, chapter: str) -> str:
    return f"{COLAB}/github/{owner}/{repo}/blob/{branch}/notebooks/{chapter}.ipynb"


def looks_like_a_file_name(alt: str, src: str) -> bool:
    last = alt.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return (last == src.rsplit("/", 1)[-1]
            or re.fullmatch(r"[\w.\-]+\.(png|jpe?g|gif|svg|webp|bmp|tiff?|pdf)", last, re.I) is not None)


def undescribed_figures(page: Page) -> list[str]:
    """The chapter images with neither a real alt text nor a <figcaption>."""
    return [f"{f['src']} (alt={f['alt']!r})" for f in page.figures
            if not f["caption"] and (not f["alt"] or looks_like_a_file_name(f["alt"], f["src"]))]


def site_pages(html: Path) -> list[str]:
    """Every HTML page of the site: all .html files except the theme's templates under _static/ etc."""
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                  if not any(part.startswith("_") for part in p.relative_to(html).parts[:-1]))


def screenshot_folder(html: Path) -> Path:
    base = os.environ.get("RLSHIFT_ARTIFACTS")
    folder = (Path(base) if base else html.parent.parent) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # a page removed since the last run leaves no stale picture
        old.unlink()
    return folder


def screenshot_name(path: str) -> str:
    return path.replace("/", "__").removesuffix(".html") + ".png"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(html: Path) -> http.server.ThreadingHTTPServer:
    """The html folder on 127.0.0.1 at a free port, in a daemon thread; .shutdown() stops it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_browser(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    return driver


def status(url: str, cache: dict[str, int]) -> int:
    """HTTP status of an internal URL (fragment and query dropped), once per URL."""
    parts = urllib.parse.urlsplit(url)
    key = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if key not in cache:
        try:
            with urllib.request.urlopen(urllib.request.Request(key, method="HEAD"), timeout=30) as r:
                cache[key] = r.status
        except urllib.error.HTTPError as e:
            cache[key] = e.code
    return cache[key]


def read_console(driver, origin: str, page: Page) -> None:
    """SEVERE entries of the browser log. A resource from another host that failed to load is
    not the page's fault on a machine with no internet (the Colab badge's SVG, a CDN script):
    it is recorded apart, as external links are not followed either. So is the /favicon.ico the
    browser asks the server root for by itself when a page names no icon."""
    for entry in driver.get_log("browser"):
        if entry.get("level") != "SEVERE":
            continue
        message = entry.get("message", "")
        url = message.split(" ", 1)[0]
        failed_load = "net::ERR_" in message or "Failed to load resource" in message
        if failed_load and url.startswith(("http://", "https://")) and not url.startswith(origin + "/"):
            page.offline_misses.append(message)
        elif failed_load and url == f"{origin}/favicon.ico":
            pass  # the browser's own guess at a site-root icon: a project site on GitHub Pages has no root
        else:
            page.console_errors.append(message)


def visit(driver, origin: str, path: str, folder: Path) -> Page:
    page = Page(path)
    driver.get(f"{origin}/{path}")
    deadline = time.time() + PAGE_TIMEOUT_S
    while driver.execute_script("return document.readyState") != "complete" and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # scripts that run just after load (theme, search index) log their errors too
    shown = driver.execute_script(PAGE_SCRIPT, COLAB)
    for key in ("links", "images", "figures", "badges", "launch", "overflowing"):
        setattr(page, key, shown[key])
    read_console(driver, origin, page)
    height = min(max(int(shown["height"]), 1), SCREENSHOT_MAX_HEIGHT)
    driver.set_window_size(1280, height)  # the whole page in one window, laid out as a reader sees it
    (folder / screenshot_name(path)).write_bytes(driver.get_screenshot_as_png())
    driver.set_window_size(1280, 1024)
    return page


def search(driver, origin: str, word: str, folder: Path) -> tuple[int, str]:
    """How many results search.html?q=word lists once it has searched (0 and a reason if none);
    the page with its results is screenshot as search-<word>.png."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{origin}/search.html?q={urllib.parse.quote(word)}")
    try:
        WebDriverWait(driver, PAGE_TIMEOUT_S).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results li"))
    except TimeoutException:
        text = driver.execute_script(
            "const r = document.querySelector('#search-results'); return r ? r.innerText : '(no #search-results)'")
        return 0, f"no result within {PAGE_TIMEOUT_S} s; the results area says: {text.strip()[:300]!r}"
    finally:
        driver.save_screenshot(str(folder / f"search-{word}.png"))
    return len(driver.find_elements(By.CSS_SELECTOR, "#search-results li")), ""


def survey_site(html: Path, say=print) -> Survey:
    """Open every page of the built site in headless Chromium and record what each shows."""
    html = Path(html).resolve()
    folder = screenshot_folder(html)
    say(f"site test: screenshots of every page in {folder}")
    server = serve(html)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    profile = Path(tempfile.mkdtemp(prefix="rlshift-chromium-"))
    driver = None
    try:
        driver = start_browser(profile)
        pages = [visit(driver, origin, path, folder) for path in site_pages(html)]
        hits, why = search(driver, origin, SEARCH_WORD, folder)
        cache: dict[str, int] = {}
        broken = {}
        for page in pages:
            bad = sorted({f"{u} -> HTTP {code}" for u in page.links + page.images
                          if u.startswith(origin + "/") and (code := status(u, cache)) != 200})
            if bad:
                broken[page.path] = bad
    finally:
        if driver is not None:
            driver.quit()
        server.shutdown()
        server.server_close()
        shutil.rmtree(profile, ignore_errors=True)
    root = html.parent.parent
    return Survey(html, pages, broken, hits, why, folder, repository(root),
                  sorted(p.stem for p in (root / "book" / "executed").glob("*.ipynb")))


def problems(s: Survey) -> dict[str, list[str]]:
    """Every check's failures, one line each naming the page: empty lists when the site is right."""
    out: dict[str, list[str]] = {"console": [], "links": [], "figures": [], "colab": [], "search": [],
                                 "overflow": []}
    for p in s.pages:
        out["console"] += [f"{p.path}: {m}" for m in p.console_errors]
        out["links"] += [f"{p.path}: {b}" for b in s.broken.get(p.path, [])]
        if p.chapter is None:
            continue
        out["figures"] += [f"{p.path}: image {f} has no alt text (only a file name) and no caption"
                           for f in undescribed_figures(p)]
        out["overflow"] += [f"{p.path}: a shown block runs past the page edge (it starts {line!r})"
                            for line in p.overflowing]
        want = colab_url(*s.repository, p.chapter)
        for what, found in (("Colab badge", p.badges), ("Colab launch button", p.launch)):
            if want not in found:
                out["colab"].append(f"{p.path}: {what} should open {want}; found {found or 'none'}")
    built = {p.chapter for p in s.pages if p.chapter}
    out["colab"] += [f"book/executed/{name}.ipynb has no chapter page ({' or '.join(f'{d}/{name}.html' for d in CHAPTER_FOLDERS)})"
                     for name in s.executed if name not in built]
    if not built:
        out["colab"].append(f"no chapter page ({' or '.join(f'{d}/*.html' for d in CHAPTER_FOLDERS)}) in {s.html}")
    if s.search_hits < 1:
        out["search"].append(f"search.html?q={SEARCH_WORD}: {s.search_error}")
    return out


@pytest.fixture(scope="module")
def site(request):
    """The survey of the built quick book (or of RLSHIFT_SITE), or why the browser can't run."""
    missing = browser_missing()
    if missing:  # said before the several minutes of building the quick book
        return missing
    html = Path(os.environ["RLSHIFT_SITE"]) if os.environ.get("RLSHIFT_SITE") else request.getfixturevalue("quick_site")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    said = []

    def say(line: str) -> None:  # shown even when pytest captures output, after the dots so far
        with capture.global_and_fixture_disabled():
            reporter.write(("" if said else "\n") + line + "\n")
        said.append(line)
    start = time.time()
    survey = survey_site(html, say)
    say(f"site test: {len(survey.pages)} pages surveyed in {time.time() - start:.0f} s")
    return survey


def _surveyed(site) -> Survey:
    if isinstance(site, str):  # the browser is missing: every check fails, none is skipped
        pytest.fail(site, pytrace=False)
    return site


def _checked(site, check: str) -> list[str]:
    return problems(_surveyed(site))[check]


def _report(lines: list[str], what: str) -> None:
    if lines:
        pytest.fail(f"{len(lines)} {what}:\n" + "\n".join(lines), pytrace=False)


def test_browser_is_installed():
    missing = browser_missing()
    assert not missing, missing


def test_every_page_loads_without_console_errors(site):
    lines = _checked(site, "console")
    _report(lines, "SEVERE console messages")


def test_every_internal_link_and_image_resolves(site):
    lines = _checked(site, "links")
    _report(lines, "internal links or images that are not HTTP 200")


def test_every_chapter_figure_has_alt_text_or_a_caption(site):
    lines = _checked(site, "figures")
    _report(lines, "chapter images a screen reader cannot describe")


def test_every_chapter_opens_its_notebook_in_colab(site):
    lines = _checked(site, "colab")
    _report(lines, "Colab links that are missing or point elsewhere")


def test_no_shown_code_runs_past_the_page_edge(site):
    _report(_checked(site, "overflow"), "shown code or text cut at the page edge")


def test_search_finds_a_chapter_word(site):
    _report(_checked(site, "search"), "search failure")


def test_every_page_has_a_screenshot(site):
    site = _surveyed(site)
    shots = {p.path: site.screenshots / screenshot_name(p.path) for p in site.pages}
    missing = [path for path, shot in shots.items() if not (shot.exists() and shot.stat().st_size)]
    assert site.pages and not missing, f"no screenshot in {site.screenshots} for {missing or 'any page'}"


if __name__ == "__main__":  # python tests/test_site.py <built _build/html>: every check's findings
    if why := browser_missing():
        sys.exit(why)
    surveyed = survey_site(Path(sys.argv[1]))
    for line in (f"(offline, not counted) {p.path}: {m}" for p in surveyed.pages for m in p.offline_misses):
        print(line)
    found = problems(surveyed)
    for check, lines in found.items():
        print(f"== {check}: {len(lines)} problem(s)", *lines, sep="\n")
    sys.exit(1 if any(found.values()) else 0)
