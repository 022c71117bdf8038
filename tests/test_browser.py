"""The app in a real browser: Debian's headless Chromium, driven by Playwright, against the app served
in-process with a tiny random-weights model. A person's path: upload a page, accept the proposed boxes,
press Transcribe (which turns into a disabled "Transcribing n/N systems..." until the score is there),
find the engraved preview, the compare view (each system's crop above its engraving), the piano playback
and the MusicXML download; and a PDF whose page range is then mistyped, whose message replaces the status
of the pages read before. Screenshots (and the browser
console) go to $ACAI_TEST_ARTIFACTS, else test-artifacts/.

Skipped only where no Chromium is installed, and never in CI (CI set), where .ci/run installs it.
$ACAI_BROWSER_PAGE runs the flow on another page image than the first bundled example.
"""
import json
import os
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = next((path for path in (os.environ.get("ACAI_CHROMIUM"), shutil.which("chromium"),
                                   shutil.which("chromium-browser"), shutil.which("google-chrome")) if path), None)
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser test, but no chromium is installed: see .ci/run")
    pytest.skip("no chromium binary (apt-get install chromium) to run the browser test with",
                allow_module_level=True)

from tests.served_inputs import free_port  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402  (requirements-ci.txt)

from tests.tiny_omr_model import save_tiny_model  # noqa: E402

TIMEOUT_MS = 180_000  # model load and transcription on a busy 2-core machine
expect.set_options(timeout=TIMEOUT_MS)
EXAMPLES = sorted((REPO / "examples").glob("*.png"))
UPLOAD_LABEL = "Page: photo, scan or PDF"
# the result area: the whole score's preview (its own markup, acai_hf/music/preview.py, which the compare view
# also uses per system), or Gradio's error badge / toast
PREVIEW_SVG = "#acai-score-preview .acai-preview svg"
PREVIEW_ERROR = "#acai-score-preview .acai-preview-error"
GRADIO_ERROR = ".toast-body.error, span.error"
TRANSCRIBE_BUTTON = "#acai-transcribe"
COMPARE_SYSTEM = "#acai-compare .acai-compare-system"  # acai_hf/app/compare.py: a crop above its engraving


@pytest.fixture(scope="module")
def artifacts():
    directory = Path(os.environ.get("ACAI_TEST_ARTIFACTS") or REPO / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    import torch

    import app
    from acai_hf.app import launch_options

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores: one thread for the model, the rest for the browser
    demo = app.build_demo(model_dir=str(save_tiny_model(tmp_path_factory.mktemp("tiny-model"))))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options())
    yield f"http://127.0.0.1:{port}/"
    demo.close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            # as root (CI) Chromium needs --no-sandbox; containers have a small /dev/shm
            # autoplay: the test presses play from script, which is not a user gesture
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--autoplay-policy=no-user-gesture-required"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, artifacts, request):
    """A fresh page; at the end its last state and its console are saved, whatever the outcome."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    yield page
    name = request.node.name
    page.screenshot(path=str(artifacts / f"{name}-last.png"), full_page=True)
    (artifacts / f"{name}-console.txt").write_text("\n".join(console), encoding="utf-8")
    context.close()


def page_image() -> Path:
    chosen = os.environ.get("ACAI_BROWSER_PAGE")
    if chosen:
        return Path(chosen)
    if not EXAMPLES:
        pytest.fail("no bundled example page in examples/*.png to upload")
    return EXAMPLES[0]


def expected_systems(image: Path):
    """The example's known system count (its JSON sidecar), or None for a page without one."""
    sidecar = image.with_suffix(".json")
    return len(json.loads(sidecar.read_text(encoding="utf-8"))["systems"]) if sidecar.is_file() else None


def error_text(page) -> str:
    """What Gradio's error toast (or, without one, the preview) says."""
    toast = page.locator(".toast-body")
    try:
        toast.first.wait_for(timeout=10_000)
        return " | ".join(toast.all_inner_texts())
    except Exception:  # no toast: the preview's own message, if any
        return " | ".join(page.locator(PREVIEW_ERROR).all_inner_texts()) or "no message shown"


def upload_input(page):
    """The page upload's file input: by elem_id when the app sets one, else by the component's label."""
    by_id = page.locator("#acai-upload input[type=file]")
    by_label = page.locator(".block", has=page.get_by_text(UPLOAD_LABEL, exact=True)).locator("input[type=file]")
    return by_id.or_(by_label).first


def test_upload_accept_boxes_transcribe_preview_and_download(page, app_url, artifacts):
    image = page_image()
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Acai OMR")).to_be_visible()
    page.screenshot(path=str(artifacts / "01-app-loaded.png"), full_page=True)

    upload_input(page).set_input_files(str(image))
    found = page.get_by_text(re.compile(r"\d+ page\(s\), \d+ system\(s\) found"))
    expect(found).to_be_visible()
    systems = int(re.search(r"(\d+) system\(s\) found", found.inner_text()).group(1))
    assert systems > 0, found.inner_text()
    if expected_systems(image) is not None:
        assert systems == expected_systems(image), found.inner_text()
    page.wait_for_timeout(1000)  # the annotator draws the page and its boxes on a canvas
    page.screenshot(path=str(artifacts / "02-proposed-boxes.png"), full_page=True)

    # the proposed boxes are accepted as they are
    button = page.locator(TRANSCRIBE_BUTTON)
    button.click()
    # busy where the visitor looks: the button itself, disabled, counting the systems
    expect(button).to_be_disabled()
    expect(button).to_have_text(re.compile(r"Transcribing \d+/\d+ systems\.\.\."))
    page.screenshot(path=str(artifacts / "03-busy.png"), full_page=True)
    outcome = page.locator(PREVIEW_SVG).or_(page.locator(PREVIEW_ERROR)).or_(page.locator(GRADIO_ERROR)).first
    outcome.wait_for()
    expect(button).to_be_enabled()
    expect(button).to_have_text("Transcribe")
    if not page.locator(PREVIEW_SVG).count():
        page.screenshot(path=str(artifacts / "03-transcription-failed.png"), full_page=True)
        pytest.fail(f"Transcribe showed an error instead of the preview: {error_text(page)}")
    expect(page.locator("#acai-score-preview .acai-preview-legend")).to_be_visible()
    # the engraved music is drawn, not just present: Verovio's measures have a size on screen
    box = page.locator(f"{PREVIEW_SVG} g.measure").first.bounding_box()
    assert box is not None and box["width"] > 20 and box["height"] > 20, box

    link = page.locator('a[href$=".musicxml"]').first
    expect(link).to_be_visible()
    # playback: the piano's WAV, served and playable, or the plain reason there is none
    report = page.get_by_text(re.compile(r"Measures: \d+ fill their time signature")).first
    expect(report).to_be_visible()
    if "Playback is unavailable" not in page.locator("body").inner_text():
        expect(page.locator('audio[src*=".wav"], a[href$=".wav"]').first).to_be_attached()
        player = page.locator('audio[src*=".wav"]')
        if player.count():  # it plays: the browser decodes the WAV and its clock moves
            played = player.first.evaluate(
                "a => a.play().then(() => new Promise(done => setTimeout(() => done(a.currentTime), 1500)))")
            assert played > 0.2, played
    page.locator("#acai-score-preview .acai-preview").first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "03-transcribed.png"), full_page=True)
    see_the_compare_view(page, systems, artifacts)

    with page.expect_download() as download_info:
        link.click()
    saved = artifacts / "downloaded.musicxml"
    download_info.value.save_as(saved)
    # the download is the score the preview shows: one part, as many measures as Verovio drew
    root = ElementTree.parse(saved).getroot()
    assert root.tag == "score-partwise" and len(root.findall("part")) == 1
    drawn = page.locator(f"{PREVIEW_SVG} g.measure").count()
    assert len(root.findall("part/measure")) == drawn >= 1


def see_the_compare_view(page, systems, artifacts):
    """Per system, its crop drawn on screen directly above its engraving (or, for a system left out of
    the score, above the reason), captioned with its measure numbers."""
    shown = page.locator(COMPARE_SYSTEM)
    expect(shown).to_have_count(systems)
    shown.first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "05-compare.png"), full_page=True)
    for number in range(systems):
        block = shown.nth(number)
        expect(block.locator(".acai-compare-caption")).to_contain_text(f"System {number + 1} (page 1)")
        crop = block.locator("img.acai-compare-crop").bounding_box()
        below = block.locator(".acai-compare-engraved svg, .acai-compare-error").first.bounding_box()
        assert crop is not None and crop["width"] > 100 and crop["height"] > 10, crop
        assert below is not None and below["y"] >= crop["y"] + crop["height"] - 1, (crop, below)


def test_a_mistyped_page_range_replaces_the_status_of_the_pages_read_before(page, app_url, artifacts, tmp_path):
    from PIL import Image

    pdf = tmp_path / "two-pages.pdf"
    first, *rest = [Image.open(path).convert("RGB") for path in EXAMPLES[:2]]
    first.save(pdf, save_all=True, append_images=rest, resolution=150)
    page.goto(app_url)
    upload_input(page).set_input_files(str(pdf))
    button = page.locator(TRANSCRIBE_BUTTON)
    expect(button).to_have_text(re.compile(r"Reading the pages|Finding systems on page \d+/2"))  # busy meanwhile
    expect(button).to_be_disabled()
    found = page.get_by_text(re.compile(r"2 page\(s\), \d+ system\(s\) found"))
    expect(found).to_be_visible()
    expect(button).to_be_enabled()

    pages = page.get_by_label("Pages of a PDF")
    pages.fill("5")
    pages.press("Enter")
    expect(page.get_by_text(re.compile(r"This file cannot be used: .*page 5 does not exist"))).to_be_visible()
    expect(found).to_have_count(0)  # the message of the pages read before is gone
    expect(button).to_be_enabled()
    page.screenshot(path=str(artifacts / "04-bad-page-range.png"), full_page=True)

    button.click()  # nothing loaded now: the run fails, and the button must come back
    expect(page.locator(".toast-body").filter(has_text="Upload a page first")).to_be_visible()
    expect(button).to_be_enabled()
    expect(button).to_have_text("Transcribe")
