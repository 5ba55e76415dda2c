"""The atlas in a real browser: Debian's chromium driven by Playwright.

Every page loads without a console error or a failed request, from file:// and over HTTP; the
lightbox and the filter box work with the keyboard and the mouse; pages work without JavaScript,
fit a phone and follow a dark system setting; a layer of 1,280 filters is paged and its first page stays
under its byte budget before scrolling. Playwright's own browser download is never used (`playwright install`
needs the internet): the tests launch /usr/bin/chromium, which .ci/run installs with apt-get."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import MnistAtlas, file_model_atlas
from playwright.sync_api import Browser, Page, Request, sync_playwright

from gallery import serve
from gallery.methods import METHODS, label

CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


DESKTOP = {"width": 1280, "height": 800}


PAGE_BUDGET = 1_500_000  # bytes a layer page may transfer before the reader scrolls


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    yield context.new_page()
    context.close()


class Problems(list[str]):
    """Console errors, uncaught exceptions, failed requests and HTTP errors seen by a page."""

    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page
        self.pending: set[Request] = set()
        self.started = 0
        page.on("console", lambda message: message.type == "error" and self.append(f"console: {message.text}"))
        page.on("pageerror", lambda error: self.append(f"exception: {error}"))
        page.on("request", self.start)
        page.on("requestfinished", lambda request: self.pending.discard(request))
        page.on("requestfailed", self.failed)
        page.on("response", lambda response: response.status >= 400 and self.append(f"{response.status}: {response.url}"))

    def start(self, request: Request) -> None:
        self.started += 1
        self.pending.add(request)

    def failed(self, request: Request) -> None:
        self.pending.discard(request)
        self.append(f"failed: {request.url} {request.failure}")

    def settle(self, quiet_ms: int = 200) -> None:
        """Wait until no request has run for `quiet_ms`: lazy images near the viewport start after
        `load`, and leaving the page would abort them."""
        seen, quiet = self.started, 0
        for _ in range(1000):
            self.page.wait_for_timeout(10)
            busy = bool(self.pending) or self.started != seen
            seen, quiet = self.started, 0 if busy else quiet + 10
            if quiet >= quiet_ms:
                return
        raise AssertionError(f"requests still running: {[r.url for r in self.pending]}")


@contextmanager
def served(site: Path) -> Iterator[str]:
    """The site over HTTP on 127.0.0.1, as `gallery serve` serves it; yields the root URL."""
    with serve.server(site, 0) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield serve.url(httpd)
        finally:
            httpd.shutdown()
            thread.join()


def visible_items(page: Page) -> int:
    return page.locator(".grid li:visible").count()


def test_every_page_loads_cleanly_from_file(mnist_atlas: MnistAtlas, page: Page) -> None:
    problems = Problems(page)
    pages = sorted(mnist_atlas.site.rglob("*.html"))
    assert len(pages) > 100
    for html in pages:
        page.goto(html.as_uri(), wait_until="load")
        problems.settle()
        assert page.title(), html
    assert problems == []


def test_a_page_over_http_and_the_404_page(mnist_atlas: MnistAtlas, page: Page) -> None:
    problems = Problems(page)
    with served(mnist_atlas.site) as root:
        response = page.goto(root + "mnist/preds/index.html", wait_until="networkidle")
        assert response is not None and response.status == 200
        assert visible_items(page) == 70 and page.locator("form.filter").is_visible()
        assert problems == []
        missing = page.goto(root + "no-such-page.html", wait_until="networkidle")
        assert missing is not None and missing.status == 404
        assert page.locator("h1").inner_text() == "Not found"
        assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui")  # styled
    assert sorted(problems) == [  # the page itself, and nothing it loads
        "404: " + root + "no-such-page.html",
        "console: Failed to load resource: the server responded with a status of 404 (File not found)"]


def test_lightbox_opens_on_click_and_follows_the_keyboard(mnist_atlas: MnistAtlas, page: Page) -> None:
    problems = Problems(page)
    url = (mnist_atlas.site / "mnist" / "preds" / "index.html").as_uri()
    page.goto(url)
    box = page.locator("dialog.lightbox")
    image = box.locator("img")
    page.locator(".grid a").nth(2).click()
    assert box.is_visible() and page.url == url
    assert image.get_attribute("src").endswith("mnist/preds/img/2-default.png")
    assert "digit 2 · default" in box.locator(".caption").inner_text()
    assert box.locator(".count").inner_text() == "3 / 70"
    assert box.locator("a.page").get_attribute("href").endswith("mnist/preds/filter-2.html")
    page.keyboard.press("ArrowRight")
    assert image.get_attribute("src").endswith("img/3-default.png")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert image.get_attribute("src").endswith("img/1-default.png")
    assert page.evaluate("document.querySelector('dialog.lightbox img').naturalWidth") == 28  # the full PNG loaded
    page.keyboard.press("Escape")
    assert not box.is_visible() and page.url == url
    # Steps only through what the filter box left visible, wrapping around at the ends.
    page.select_option("form.filter select", "clear")
    page.locator(".grid a:visible").first.click()
    assert box.locator(".count").inner_text() == "1 / 10"
    page.keyboard.press("ArrowLeft")
    assert image.get_attribute("src").endswith("img/9-clear.png")
    box.locator("button.close").click()
    assert not box.is_visible()
    assert problems == []


def test_a_click_on_a_feature_map_grid_enlarges_that_channel(mnist_atlas: MnistAtlas, page: Page) -> None:
    problems = Problems(page)
    page.goto((mnist_atlas.site / "mnist" / "features" / "digit7.html").as_uri())
    grid = page.locator('a.channels[data-layer="conv2d_1"] img')
    grid.scroll_into_view_if_needed()
    bounds = grid.bounding_box()
    # conv2d_1: 32 channels in 2 rows of 16; the middle of column 5 of row 2 is channel 21.
    grid.click(position={"x": bounds["width"] * 5.5 / 16, "y": bounds["height"] * 0.75})
    box = page.locator("dialog.lightbox")
    crop = box.locator(".crop")
    assert box.is_visible() and crop.is_visible() and not box.locator("img").is_visible()
    assert box.locator(".caption").inner_text().startswith("conv2d_1 · channel 21 of 32")
    assert box.locator(".count").inner_text() == "22 / 32"
    width, height = crop.evaluate("e => [e.offsetWidth, e.offsetHeight]")
    assert width == height and width >= 26 * 10  # one 26x26 tile, enlarged
    # The crop shows tile 21's pixels: its background is the grid, shifted to column 5, row 1 (27 px a tile).
    scale = width / 26
    position = crop.evaluate("e => getComputedStyle(e).backgroundPosition")
    x, y = (float(value.removesuffix("px")) for value in position.split())
    assert x == pytest.approx(-5 * 27 * scale, abs=0.5) and y == pytest.approx(-27 * scale, abs=0.5)
    page.keyboard.press("ArrowRight")
    assert box.locator(".caption").inner_text().startswith("conv2d_1 · channel 22 of 32")
    page.keyboard.press("Escape")
    assert not box.is_visible()
    assert problems == []


def test_filter_box_filters_the_grid(mnist_atlas: MnistAtlas, page: Page) -> None:
    page.goto((mnist_atlas.site / "mnist" / "conv2d_2" / "index.html").as_uri())
    search, output = page.locator("form.filter input[type=search]"), page.locator("form.filter output")
    assert visible_items(page) == 64 and output.inner_text() == "64 of 64 images"
    search.fill("3")
    assert visible_items(page) == 1 and output.inner_text() == "1 of 64 images"
    search.fill("10-19, 40")
    assert visible_items(page) == 11
    search.fill("")
    weak = page.locator(".grid li[data-flags]").count()
    assert weak > 0
    page.check("form.filter input[name=flagged]")
    assert visible_items(page) == weak
    page.uncheck("form.filter input[name=flagged]")
    assert visible_items(page) == 64

    page.goto((mnist_atlas.site / "mnist" / "preds" / "index.html").as_uri())
    search = page.locator("form.filter input[type=search]")
    search.fill("digit 7")
    assert visible_items(page) == 7  # unit 7 under each of the 7 settings
    page.select_option("form.filter select", "tv_300")
    assert visible_items(page) == 1 and page.locator("section[data-setting]:visible").count() == 1
    search.fill("")
    assert visible_items(page) == 10


def test_pages_work_without_javascript(mnist_atlas: MnistAtlas, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    page.goto((mnist_atlas.site / "mnist" / "preds" / "index.html").as_uri())
    assert not page.locator("form.filter").is_visible() and visible_items(page) == 70
    page.locator(".grid a").nth(3).click()
    assert page.url.endswith("mnist/preds/filter-3.html")
    page.locator(".views .view:not(.examples) a").first.click()
    assert page.url.endswith("mnist/preds/img/3-default.png")
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_fit_a_phone_in_either_scheme(mnist_atlas: MnistAtlas, browser: Browser, scheme: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 812}, color_scheme=scheme, is_mobile=True)
    page = context.new_page()
    for relative in ("index.html", "mnist/index.html", "mnist/depth.html", "mnist/preds/index.html",
                     "mnist/preds/compare.html", "mnist/preds/filter-3.html"):
        page.goto((mnist_atlas.site / relative).as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, relative
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(22, 24, 27)")
    context.close()


PHONE = {"width": 390, "height": 844}


# Method ids: a reader sees their paper names (Grad-CAM++, SmoothGrad), never these ("saliency" is a word too).
IDENTIFIERS = re.compile(r"\b(?:" + "|".join(sorted(m for m in METHODS if label(m) != m and m != "saliency")) + r")\b")


def one_page_per_kind(site: Path) -> list[Path]:
    """Every page but the filter pages, and of those the largest of each layer: a layer's filter pages
    share one layout, so its largest stands for the rest (and keeps the browser run short)."""
    pages = [html for html in site.rglob("*.html") if not html.name.startswith("filter-")]
    for layer in {html.parent for html in site.rglob("filter-*.html")}:
        pages.append(max(layer.glob("filter-*.html"), key=lambda html: html.stat().st_size))
    return sorted(pages)


def test_every_page_fits_desktop_and_phone_widths_and_shows_paper_names(mnist_atlas: MnistAtlas,
                                                                         browser: Browser) -> None:
    pages = one_page_per_kind(mnist_atlas.site)
    assert len(pages) > 20
    for viewport in (DESKTOP, PHONE):
        context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE)
        page = context.new_page()
        for html in pages:
            page.goto(html.as_uri(), wait_until="load")
            relative = html.relative_to(mnist_atlas.site).as_posix()
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], (relative, viewport)
            if viewport is DESKTOP:
                assert page.locator('meta[property="og:image"]').count() == 1, relative
                found = IDENTIFIERS.findall(page.locator("body").inner_text())
                assert not found, (relative, found)
        context.close()


def test_index_opens_with_pictures(mnist_atlas: MnistAtlas, page: Page) -> None:
    page.goto((mnist_atlas.site / "index.html").as_uri(), wait_until="load")
    pictures = page.locator(".strip img")
    assert pictures.count() >= 6
    for index in range(pictures.count()):
        picture = pictures.nth(index)
        picture.scroll_into_view_if_needed()
        assert picture.evaluate("img => img.complete && img.naturalWidth > 0")
        box = picture.bounding_box()
        assert box is not None and box["width"] >= 64
    first_strip = page.locator(".strip").first.bounding_box()
    assert first_strip is not None and first_strip["y"] < DESKTOP["height"]  # on the first screen


def test_every_attribution_map_shows_at_one_size_with_its_paper_name(mnist_atlas: MnistAtlas, page: Page) -> None:
    page.goto((mnist_atlas.site / "mnist" / "attribution" / "digit7.html").as_uri(), wait_until="load")
    maps = page.locator(".maps figure > img, .maps figure > a > img, .maps figure .empty")
    sizes = {(round(box["width"]), round(box["height"])) for box in
             (maps.nth(index).bounding_box() for index in range(maps.count())) if box}
    view = next(v for v in json.loads((mnist_atlas.site / "atlas.json").read_text())["views"]
                if v["kind"] == "attribution" and v["model"] == "mnist")
    assert maps.count() == len(view["classes"]) * len(view["methods"]) > 10 and len(sizes) == 1, sizes
    text = page.locator("body").inner_text()
    assert "Grad-CAM++" in text and "gradcam_plus_plus" not in text


@pytest.fixture(scope="module")
def wide_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1,280-channel conv layer (EfficientNet-Lite0's head) on 48x48 RGB inputs, rendered in 2 steps."""
    return file_model_atlas(tmp_path_factory.mktemp("wide"), channels=1280, size=48)


def transfers(page: Page) -> dict[str, int]:
    """Bytes per URL that `page` loads from now on, headers included."""
    sizes: dict[str, int] = {}
    page.on("requestfinished", lambda request: sizes.__setitem__(
        request.url, request.sizes()["responseBodySize"] + request.sizes()["responseHeadersSize"]))
    return sizes


def test_a_1280_filter_layer_is_paged_and_each_page_transfers_under_budget_before_scrolling(
        wide_site: Path, page: Page, browser: Browser) -> None:
    sizes = transfers(page)
    problems = Problems(page)
    with served(wide_site) as root:
        page.goto(root + "net/conv/index.html", wait_until="networkidle")
        first_page = dict(sizes)
        assert page.locator(".grid li").count() == 512
        assert page.locator(".pager").first.inner_text().split(":")[1].split() == ["0–511", "·", "512–1023", "·",
                                                                                   "1024–1279"]
        page.locator(".pager a", has_text="1024–1279").first.click()
        page.wait_for_load_state("networkidle")
        assert page.url.endswith("net/conv/page-3.html") and page.locator(".grid li").count() == 256
        assert page.locator("h1").inner_text() == "net / conv · page 3 of 3" and "page 3 of 3" in page.title()
        for back in (".crumbs a", ".pager a"):  # both lead back to the page that holds filter 700
            page.goto(root + "net/conv/filter-700.html")
            page.locator(back, has_text="conv").first.click()
            page.wait_for_load_state("networkidle")
            assert page.url.endswith("net/conv/page-2.html")
        cold = browser.new_context(viewport=DESKTOP).new_page()  # nothing cached from the layer's pages
        compare_page, compare_problems = transfers(cold), Problems(cold)
        cold.goto(root + "net/conv/compare.html", wait_until="networkidle")  # all 1,280 rows on one page
        assert cold.locator("table.compare tbody tr").count() == 1280 and compare_problems == []
        cold.context.close()
    for name, loaded in (("first page", first_page), ("compare page", compare_page)):
        images = [url for url in loaded if url.endswith(".png")]
        total = sum(loaded.values())
        print(f"1,280-filter layer, {name}: {len(loaded)} requests, {total:,} bytes before scrolling")
        assert 0 < len(images) < 512, "thumbnails should load lazily"
        assert all(url.endswith((".thumb.png", "/kernels.png")) for url in images)  # and the first layer's weights
        assert total < PAGE_BUDGET
    assert problems == []
