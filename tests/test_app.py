"""`facecam app`: the web page, driven in a real browser (Debian's Chromium through Playwright).

The browser tests start `facecam app` on a free localhost port in a subprocess, as
a user would, and stop it at the end. The browser may only talk to 127.0.0.1:
every other request is aborted and recorded. Each test saves a screenshot in its
temporary folder so a failing run can be inspected.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import media_path

from facecam.errors import FacecamError, TrajectoryError

KEY_COLUMNS = ["t", "yaw", "pitch", "roll", "zoom", "pan_x", "pan_y"]

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
SERVER_START_TIMEOUT = 240.0  # cold imports of gradio, torch and diffusers on a busy 2-core machine
JOB_TIMEOUT_MS = 150_000


# --- the keyframe table (no browser) ---------------------------------------------------------

def test_keyframe_table_rows_become_keys_with_blank_cells_left_out():
    from facecam.app import keys_from_table

    rows = [[0, 0, 0, 0, 1, 0, 0], ["1", -30, None, "", 1.2, float("nan"), 0.1], [None] * 7]
    assert keys_from_table(rows) == [
        {"t": 0.0, "yaw": 0.0, "pitch": 0.0, "roll": 0.0, "zoom": 1.0, "pan_x": 0.0, "pan_y": 0.0},
        {"t": 1.0, "yaw": -30.0, "zoom": 1.2, "pan_y": 0.1},
    ]


@pytest.mark.parametrize("rows, message", [
    ([[0, "left", 0, 0, 1, 0, 0]], "row 1, column yaw: 'left' is not a number"),
    ([[None, -30, 0, 0, 1, 0, 0]], "row 1 has no t"),
    ([], "the keyframe table is empty"),
])
def test_invalid_keyframe_table_is_explained(rows, message):
    from facecam.app import keys_from_table

    with pytest.raises(TrajectoryError, match=message):
        keys_from_table(rows)


def test_a_keyframe_error_names_the_table_row_as_the_page_shows_it():
    """The library counts keys from 0 and skips blank rows; the page said "key 1" for table row 3."""
    from facecam.app import _camera

    table = [[0, 0, 0, 0, 1, 0, 0], [None] * 7, [0.5, -10, 0, 0, -2, 0, 0]]
    with pytest.raises(TrajectoryError, match=r"^keyframe row 3: zoom must be positive, got -2"):
        _camera("keyframes", "arc-left", 1.0, table, None, 17)
    with pytest.raises(TrajectoryError, match=r"^keyframe row 2: 't' = 5.0 is outside 0..1$"):
        _camera("keyframes", "arc-left", 1.0, [[0, 0, 0, 0, 1, 0, 0], [5, 0, 0, 0, 1, 0, 0]], None, 17)


def test_facecam_engine_is_shown_disabled_with_the_reason_without_weights(tmp_path, monkeypatch):
    from facecam.app import build_app

    monkeypatch.delenv("FACECAM_WEIGHTS", raising=False)
    demo = build_app(workdir=tmp_path)
    engine = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "engine")
    assert engine.interactive is False
    assert engine.value == "warp"
    assert "facecam unavailable" in engine.info and "weights" in engine.info


def test_the_page_never_imports_the_cli():
    code = "import sys, facecam.app\nassert not [m for m in sys.modules if m.startswith('facecam.cli')]\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_errors_name_the_pages_fields_not_command_line_flags():
    from facecam.app import _error

    line = _error(TrajectoryError("--frames must be 4k+1 and --strength at most 2"))
    assert line == "**Error:** Frames must be 4k+1 and Strength at most 2"
    # A flag the page has no field for stays a flag, with where it is set: "start there with Start SEC"
    # sent page users to a field that is not there.
    line = _error(TrajectoryError("if the face appears later, start there with --start SEC"))
    assert line == ("**Error:** if the face appears later, start there with `--start SEC` (`--start SEC`: an "
                    "option of `facecam generate`, not on this page)")
    line = _error(TrajectoryError("give --weights DIR (or $FACECAM_WEIGHTS), or --proxy PATH.ply"))
    assert line == ("**Error:** give the weights folder (`facecam app --weights DIR`) (or $FACECAM_WEIGHTS), "
                    "or Proxy head .ply")


def test_the_page_refuses_absurd_frames_at_once():
    from facecam.app import PAGE_MAX_FRAMES, _frames

    assert _frames(81) == 81 and _frames(81.0) == 81
    with pytest.raises(FacecamError, match=f"at most {PAGE_MAX_FRAMES} on this page"):
        _frames(100001)  # ran 80 s, then ran out of temporary disk
    with pytest.raises(FacecamError, match="whole number"):
        _frames(2.5)  # was read as 2


def test_a_failed_preview_keeps_the_previous_results_on_the_page(page_handlers):
    from types import SimpleNamespace

    handlers, photo, _ = page_handlers
    status, files = _preview(handlers, photo)
    assert status.startswith("Preview of") and files
    failed = handlers["preview"](photo, "preset", "arc-left", 1.0, [], None, 6, "subject", None, "relative", 0,
                                 "auto", False, "default", 0, "", SimpleNamespace(session_hash="tab"),
                                 progress=lambda *a, **k: None)
    assert failed[0].startswith("**Error:** Frames") or "frames" in failed[0].lower(), failed[0]
    # Every other output is left as it was (Gradio's "skip" update), not emptied.
    assert all(out == {"__type__": "update"} for out in failed[1:])


def test_app_help_does_not_import_gradio():
    code = ("import sys, facecam.cli as c\n"
            "try:\n    c.main(['app', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'gradio' not in sys.modules, 'gradio imported by --help'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--port" in done.stdout and "--weights" in done.stdout
    assert "extra" not in done.stdout  # gradio is a dependency, not an extra


# --- the page in a browser --------------------------------------------------------------------

def _chromium() -> str:
    for path in (shutil.which("chromium"), *CHROMIUM_CANDIDATES):
        if path and Path(path).exists():
            return path
    # Not a skip: CI installs chromium (.ci/extra-setup), so a missing browser is a broken setup.
    pytest.fail("Debian's Chromium is needed for the browser tests: apt-get install chromium")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(app_server):
    return app_server[0]


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """`facecam app` serving on a free localhost port, and its log file; stopped after the module's tests."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("app-server") / "server.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "facecam", "app", "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"facecam app exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"facecam app did not answer in {SERVER_START_TIMEOUT:.0f} s:\n"
                            f"{log_path.read_text()[-3000:]}")
            time.sleep(1.0)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


@pytest.fixture
def page(app_url, tmp_path):
    """A fresh browser tab on the page; anything but 127.0.0.1 is blocked and listed in ``page.blocked``."""
    # Imported here, not skipped: CI installs playwright, so its absence is a broken setup.
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1800})
        blocked: list[str] = []

        def local_only(route):
            host = route.request.url.split("/")[2] if "://" in route.request.url else ""
            if route.request.url.startswith(("data:", "blob:")) or host.split(":")[0] == "127.0.0.1":
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", local_only)
        tab = context.new_page()
        tab.blocked = blocked
        tab.goto(app_url)
        tab.wait_for_selector("#generate-button", timeout=60_000)
        try:
            yield tab
        finally:
            # Kept under the test's temporary folder so a failing run can be looked at.
            tab.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            context.close()
            browser.close()


def _upload(page, path: Path) -> None:
    clear = page.locator("#source").get_by_role("button", name="Clear", exact=True)
    if clear.count():  # a file is already there: the upload box comes back once it is cleared
        clear.first.click()
    page.set_input_files("#source input[type=file]", str(path))
    page.locator("#source").get_by_text(path.name).wait_for(timeout=30_000)


def _set_frames(page, frames: int) -> None:
    box = page.locator("#frames input")
    box.fill(str(frames))
    box.press("Tab")
    assert box.input_value() == str(frames)


def _wait_status(page, text: str) -> str:
    status = page.locator("#status")
    status.get_by_text(text).wait_for(timeout=JOB_TIMEOUT_MS)
    return status.inner_text()


def _frame_count(path: Path) -> tuple[int, int, int]:
    import av

    with av.open(str(path)) as container:
        frames = [f for f in container.decode(video=0)]
    return len(frames), frames[0].height, frames[0].width


@pytest.mark.slow
def test_page_previews_then_generates_arc_left_with_warp_and_downloads_the_mp4(page, tmp_path):
    clip = media_path("lp_d0.mp4")
    _upload(page, clip)
    page.locator("#preset").get_by_label("arc-left", exact=True).check()
    _set_frames(page, 17)

    page.click("#preview-button")
    status = _wait_status(page, "Preview of")
    assert "17 frames" in status
    assert page.locator("#preview-video video").get_attribute("src")
    assert page.locator("#condition-video video").get_attribute("src")

    page.locator("#engine").get_by_label("warp", exact=True).check()
    page.click("#generate-button")
    # While the job runs, another browser (its own session) loads the page and sees none of this tab's files.
    other = page.context.browser.new_context()
    try:
        other.route("**/*", lambda route: route.continue_() if "//127.0.0.1:" in route.request.url else route.abort())
        other_tab = other.new_page()
        other_tab.goto(page.url)
        other_tab.wait_for_selector("#generate-button", timeout=30_000)
        assert other_tab.locator("#downloads a[download]").count() == 0
        assert "Upload a video" in other_tab.locator("#status").inner_text()
    finally:
        other.close()
    status = _wait_status(page, "Done:")
    assert "warp engine, 17 frames" in status
    assert page.locator("#preview-video video").get_attribute("src")  # both videos on the page
    assert page.locator("#result-video video").get_attribute("src")

    with page.expect_download(timeout=30_000) as download:
        page.locator('#downloads a[download="lp_d0.mp4"]').click()
    result = tmp_path / "downloaded.mp4"
    download.value.save_as(str(result))
    assert result.read_bytes()[4:8] == b"ftyp"  # an MP4 container
    assert _frame_count(result) == (17, 704, 480)
    names = {a.get_attribute("download") for a in page.locator("#downloads a[download]").all()}
    assert {"lp_d0_camera.json", "lp_d0_camera.mp4", "lp_d0_preview.mp4", "lp_d0_input.mp4"} <= names
    assert page.blocked == []


@pytest.mark.slow
def test_the_server_prints_one_line_with_its_address_and_no_share_advice(app_server):
    url, log_path = app_server
    deadline = time.monotonic() + 30  # the page can answer a moment before the line is printed
    while not log_path.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    assert lines[0] == f"facecam: serving on {url} (Ctrl-C stops it)"
    assert "share=True" not in log_path.read_text()


@pytest.mark.slow
def test_page_explains_bad_input_and_keeps_serving(page, tmp_path, app_url):
    import numpy as np
    from PIL import Image

    media_path("lp_d0.mp4")  # same requirement as the rest of the page tests
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n")
    _upload(page, notes)
    page.click("#preview-button")
    status = _wait_status(page, "Error:")
    assert "cannot open video notes.txt" in status  # named as the user knows it, not by server path

    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((360, 360, 3), 200, np.uint8)).save(wall)
    _upload(page, wall)
    page.click("#preview-button")
    # The old error goes the moment the new run starts.
    page.locator("#status").get_by_text("Working").wait_for(timeout=JOB_TIMEOUT_MS)
    assert "cannot open video" not in page.locator("#status").inner_text()
    assert "no face found" in _wait_status(page, "no face found")

    page.locator("#camera-source").get_by_label("keyframes", exact=True).check()
    yaw_of_second_key = page.locator("#keyframes [role=gridcell]").nth(len(KEY_COLUMNS) + 1)
    yaw_of_second_key.dblclick()
    page.keyboard.press("Control+A")
    page.keyboard.type("left")
    page.keyboard.press("Enter")
    page.click("#preview-button")
    assert "keyframe row 2, column yaw: 'left' is not a number" in _wait_status(page, "keyframe row 2")

    with urllib.request.urlopen(app_url, timeout=10) as response:
        assert response.status == 200
    assert page.blocked == []


# --- the handlers the page calls, without a browser -----------------------------------------

@pytest.fixture
def page_handlers(tmp_path, astronaut):
    """The page's event handlers by name, a portrait photo and the sessions folder."""
    from PIL import Image

    from facecam.app import build_app

    photo = tmp_path / "portrait.png"
    Image.fromarray(astronaut).save(photo)
    workdir = tmp_path / "sessions"
    demo = build_app(workdir=workdir)
    return {f.name: f.fn for f in demo.fns.values()}, photo, workdir


def _preview(handlers, photo, session="tab", **choices):
    """Press Preview with the page's defaults except ``choices``; returns (status, {file name: path})."""
    from types import SimpleNamespace

    from facecam.app import DEFAULT_KEYS

    form = dict(camera_source="preset", preset="arc-left", strength=1.0, table=DEFAULT_KEYS, json_file=None,
                frames=5, proxy="subject", ply=None, mode="relative", seed=-1, framing="auto", track=False,
                profile="default", rotate=0, face="")
    form.update(choices)
    status, *_, files = handlers["preview"](photo, *form.values(), SimpleNamespace(session_hash=session),
                                            progress=lambda *a, **k: None)
    return status, ({} if isinstance(files, dict) else {Path(f).name: Path(f) for f in files or []})


def test_each_browser_session_writes_into_its_own_folder_removed_when_the_tab_closes(page_handlers):
    from types import SimpleNamespace

    handlers, photo, workdir = page_handlers
    for session in ("tab-a", "tab-b"):
        status, files = _preview(handlers, photo, session)
        assert status.startswith("Preview of"), status
        assert sorted(files) == ["portrait_camera.json", "portrait_camera.mp4", "portrait_input.mp4",
                                 "portrait_preview.mp4"]
        assert all(path.is_relative_to(workdir / session) for path in files.values())
    handlers["forget_session"](SimpleNamespace(session_hash="tab-a"))
    assert not (workdir / "tab-a").exists() and (workdir / "tab-b").exists()


def test_keyframe_table_drives_the_camera_scaled_by_strength(page_handlers):
    import json

    handlers, photo, _ = page_handlers
    table = [[0, 0, 0, 0, 1, 0, 0], [1, -30, 10, None, 1.2, None, None]]
    status, files = _preview(handlers, photo, camera_source="keyframes", table=table, strength=0.5)
    assert status.startswith("Preview of"), status
    keys = json.loads(files["portrait_camera.json"].read_text())["trajectory"]["keys"]
    assert len(keys) == 5
    assert keys[0]["yaw"] == 0 and keys[0]["zoom"] == 1
    assert keys[-1]["yaw"] == pytest.approx(-15) and keys[-1]["pitch"] == pytest.approx(5)
    assert keys[-1]["zoom"] == pytest.approx(1.2 ** 0.5)


def test_a_drawn_seed_is_shown_and_recorded_so_the_move_can_be_kept(page_handlers):
    """With Seed -1 Preview and Generate drew different random moves, and neither said which."""
    import json
    import re

    handlers, photo, _ = page_handlers
    status, files = _preview(handlers, photo, preset="random", seed=-1)
    drawn = re.search(r"Seed (\d+) was drawn for this run", status)
    assert drawn and "Generate renders it" not in status, status
    record = json.loads(files["portrait_camera.json"].read_text())
    assert record["options"]["seed"] == int(drawn.group(1))
    again, files_again = _preview(handlers, photo, preset="random", seed=int(drawn.group(1)))
    assert "was drawn" not in again and "Generate renders it" in again
    keys = [json.loads(f["portrait_camera.json"].read_text())["trajectory"]["keys"] for f in (files, files_again)]
    assert keys[0] == keys[1]  # the same move from the seed shown


def test_the_runs_warnings_reach_the_page(page_handlers):
    """A 90 deg turn (the warp engine tears beyond 35) and a clip shorter than Frames were said in the
    server's log only; the page said "Done"."""
    from types import SimpleNamespace

    handlers, photo, _ = page_handlers
    table = [[0, 0, 0, 0, 1, 0, 0], [1, -90, 0, 0, 1, 0, 0]]
    form = dict(camera_source="keyframes", preset="arc-left", strength=1.0, table=table, json_file=None, frames=5,
                proxy="subject", ply=None, mode="relative", seed=0, framing="auto", track=False, profile="default",
                rotate=0, face="")
    said = []
    status, *_ = handlers["generate"](photo, *form.values(), "warp", SimpleNamespace(session_hash="tab"),
                                      progress=lambda *a, **k: said.append(k.get("desc")))
    assert status.startswith("Done:"), status
    # The engine's first load is said before it starts (the facecam engine's took 16-20 s without a word);
    # the next run has it loaded already.
    assert said[0] == "loading the warp engine (the first run of this page only)"
    said.clear()
    handlers["generate"](photo, *form.values(), "warp", SimpleNamespace(session_hash="tab"),
                         progress=lambda *a, **k: said.append(k.get("desc")))
    assert not any("loading" in (d or "") for d in said)
    assert "**Note:** the camera turns 90 deg from the source view" in status
    assert "lower Strength" in status  # in the page's words


def test_the_framing_and_follow_the_face_controls_reach_the_run(page_handlers):
    import json

    handlers, photo, _ = page_handlers
    status, files = _preview(handlers, photo, framing="reference", track=True)
    assert status.startswith("Preview of"), status
    record = json.loads(files["portrait_camera.json"].read_text())
    assert record["options"]["framing"] == "reference" and record["options"]["track"] is True
    assert record["framing"]["mode"] == "reference" and record["framing"]["track"] is True


def test_the_release_profile_previews_the_authors_head_from_the_servers_weights(tmp_path, astronaut, tiny_weights):
    import json

    from PIL import Image

    from facecam.app import build_app
    from facecam.run import EngineOptions

    photo = tmp_path / "portrait.png"
    Image.fromarray(astronaut).save(photo)
    demo = build_app(EngineOptions(engine="facecam", weights=str(tiny_weights)), workdir=tmp_path / "sessions")
    handlers = {f.name: f.fn for f in demo.fns.values()}
    status, files = _preview(handlers, photo, profile="release")
    assert status.startswith("Preview of **random**"), status
    # The preset on the form (arc-left, the default) was replaced: the page says so, it did not.
    assert "Profile release renders the authors' random move: the chosen camera (arc-left) was not used" in status
    options = json.loads(files["portrait_camera.json"].read_text())["options"]
    assert options["profile"] == "release" and options["mode"] == "absolute"
    assert options["proxy"] == str(tiny_weights / "FaceCam" / "gaussians.ply")


def test_an_uploaded_trajectory_json_is_the_camera(page_handlers, tmp_path):
    import json

    handlers, photo, _ = page_handlers
    _, first = _preview(handlers, photo, preset="zoom-in")
    upload = tmp_path / "move.json"  # the page's own download, uploaded again, gives the same camera
    upload.write_text(json.dumps(json.loads(first["portrait_camera.json"].read_text())["trajectory"]))
    status, again = _preview(handlers, photo, camera_source="JSON file", json_file=str(upload), preset="static")
    assert status.startswith("Preview of"), status
    zooms = [k["zoom"] for k in json.loads(again["portrait_camera.json"].read_text())["trajectory"]["keys"]]
    assert zooms[0] == pytest.approx(1) and zooms[-1] == pytest.approx(1.4)


@pytest.mark.slow
def test_with_weights_the_page_offers_and_runs_the_facecam_engine(tmp_path, astronaut, tiny_weights):
    import json
    from types import SimpleNamespace

    import av
    from PIL import Image

    from facecam.app import DEFAULT_KEYS, build_app
    from facecam.run import EngineOptions

    photo = tmp_path / "portrait.png"
    Image.fromarray(astronaut).save(photo)
    weights = tiny_weights  # the real folder layout with a tiny model inside
    demo = build_app(EngineOptions(engine="facecam", weights=str(weights), steps=2, device="cpu", dtype="float32"),
                     workdir=tmp_path / "sessions")
    engine = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "engine")
    assert engine.interactive is not False and "unavailable" not in engine.info
    generate = next(f.fn for f in demo.fns.values() if f.name == "generate")
    status, _, _, result, files = generate(photo, "preset", "zoom-in", 1.0, DEFAULT_KEYS, None, 5, "subject", None,
                                           "relative", 0, "auto", False, "default", 0, "", "facecam",
                                           SimpleNamespace(session_hash="tab"),
                                           progress=lambda *a, **k: None)
    assert status.startswith("Done:") and "facecam engine" in status, status
    with av.open(result) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5
    record = json.loads(next(Path(f) for f in files if f.endswith("_camera.json")).read_text())
    assert record["engine"] == "facecam"
    assert record["engine_options"]["steps"] == 2 and record["engine_options"]["weights"] == str(weights)


@pytest.mark.parametrize("host, phrase", [("999.1.1.1", "not an address or a name"),
                                          ("203.0.113.7", "no such address to listen on")])
def test_app_refuses_a_host_it_cannot_listen_on_in_one_line(capsys, host, phrase):
    """Gradio answered a bad --host with "Cannot find empty port in range: 7993-7993", blaming the port."""
    from facecam.cli import main

    assert main(["app", "--host", host, "--port", "7993"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and phrase in err and "Traceback" not in err


def test_app_host_check_accepts_this_machine():
    from facecam.cli.app import check_host

    check_host("127.0.0.1")
    check_host("0.0.0.0")
    check_host("localhost")


def test_rotate_and_face_are_on_the_page(page_handlers, tmp_path, astronaut):
    """A sideways video could be told `--rotate` on the page but not turned there; nor could a face be picked."""
    import numpy as np
    from PIL import Image

    handlers, _, _ = page_handlers
    sideways = tmp_path / "sideways.png"
    Image.fromarray(np.ascontiguousarray(np.rot90(astronaut, 1))).save(sideways)  # the head's top points left
    status, files = _preview(handlers, sideways)
    assert status.startswith("Preview of") and files
    assert "lies on its side" in status and "Rotate 90 turns the video upright" in status, status
    status, files = _preview(handlers, sideways, rotate=90)
    assert status.startswith("Preview of") and "lies on" not in status, status
    status, _ = _preview(handlers, sideways, rotate=90, face="2,2")
    assert status.startswith("**Error:** Face takes a point as fractions of the frame"), status
    status, files = _preview(handlers, sideways, rotate=90, face="0.5,0.3")
    assert status.startswith("Preview of") and files
