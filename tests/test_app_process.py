"""`python app.py` as a service runs it: stopped with SIGTERM it leaves no files behind, and at start-up
it removes what a run killed outright left (issue 20). Loopback only; no model needed."""
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.served_inputs import free_port
from gradio_client import Client

from acai_hf.app.session import ROOT_PREFIX

REPO = Path(__file__).resolve().parent.parent


def killed_run_root(env) -> Path:
    """The root a run of the app makes, left behind by SIGKILL (no atexit, no Gradio shutdown)."""
    script = ("import os, signal; from acai_hf.app.session import RequestDirs; d = RequestDirs(); "
              "(d.new('s') / 'score.musicxml').write_text('music'); print(d.root, flush=True); "
              "os.kill(os.getpid(), signal.SIGKILL)")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    return Path(result.stdout.strip())


def wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the app exited while starting"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the app did not start in time")


def test_sigterm_cleans_up_like_ctrl_c_and_start_up_removes_a_killed_runs_files(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_TEMP_DIR", None)
    stale = killed_run_root(env)
    assert stale.parent == tmp_path and (stale / "owner.json").is_file()
    port = free_port()
    app = subprocess.Popen([sys.executable, "app.py", "--model", str(tmp_path / "no-model"), "--port", str(port)],
                           cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_serving(url, app)
        assert not stale.exists()  # removed at start-up
        client = Client(url, verbose=False, download_files=False)
        client.predict("measure time beats:4 beat-type:4 C4 whole", api_name="/convert_lmx")
        client.close()
        [root] = tmp_path.glob(ROOT_PREFIX + "*")
        assert list(root.glob("request-*/score.musicxml")) and (root / "gradio").is_dir()  # Gradio's cache too
        app.send_signal(signal.SIGTERM)
        _, stderr = app.communicate(timeout=60)
        assert app.returncode == 0, stderr.decode()[-2000:]
        assert not list(tmp_path.glob(ROOT_PREFIX + "*"))
        # nothing else either (Gradio makes an empty gradio/vibe_edit_history when it is imported)
        assert [path for path in tmp_path.rglob("*") if not path.is_dir()] == []
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
