"""Load and abuse the app as a crowd and a hostile user would, on loopback, and report what it cost.

Starts `python app.py` (this checkout, or --app-dir) on 127.0.0.1 with its own temp dir, then:
1. load: --clients threads send --rounds /transcribe requests each (the example pages, in turn);
2. hostile requests, one at a time, each with a --timeout: a page range of a 50,000-page PDF (and a
   one-page PDF sent meanwhile), thirty 14400 x 14400 pt PDF pages, a 13000 x 13000 PNG, 193 KB of
   3/8 measures to /convert_lmx, a system music21 cannot write MIDI for, a 10,000-character page
   selection, beam width "abc";
3. SIGTERM, and a count of the files left in the app's temp dir.
Prints requests served, the server's peak RSS (VmHWM) and the time of each hostile request.
Bounded: at most 8 clients x 4 rounds, every request and the start-up under a timeout.

    python bench/abuse.py                       # the shipped model, 4 clients x 2 rounds
    python bench/abuse.py --app-dir ../old      # another checkout of the app (before/after figures)
"""
import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing
from tests.served_inputs import blank_pdf, free_port  # noqa: E402

GOOD_LMX = "measure time beats:3 beat-type:4 clef:G2 C4 quarter staff:1 E4 quarter staff:1 G4 quarter staff:1"
GRACE_ONLY = "measure grace C4 eighth"  # no time signature in force yet: music21 divides by zero (MIDI)




def page_pdf(example: Path) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(example).convert("L").save(buffer, format="PDF", resolution=300)
    return buffer.getvalue()


def white_png(side: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (side, side), 255).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


class Server:
    """`python app.py` in its own temp dir; its resident memory sampled from /proc."""

    def __init__(self, app_dir: Path, model: str, start_timeout: float):
        self.temp = Path(tempfile.mkdtemp(prefix="acai-abuse-"))
        self.port = free_port()
        env = {**os.environ, "TMPDIR": str(self.temp), "GRADIO_ANALYTICS_ENABLED": "False"}
        env.pop("GRADIO_TEMP_DIR", None)
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "--model", model, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=app_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/"
        deadline = time.monotonic() + start_timeout
        while True:
            if self.process.poll() is not None:
                raise SystemExit("the app exited while starting")
            try:
                urllib.request.urlopen(self.url, timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.process.kill()
                    raise SystemExit("the app did not start in time") from None
                time.sleep(0.5)

    def memory_mib(self, field: str = "VmRSS") -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self, timeout: float) -> tuple[int | None, int]:
        """SIGTERM; -> (exit status or None if it had to be killed, files left in its temp dir)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        left = sum(1 for path in self.temp.rglob("*") if not path.is_dir())
        shutil.rmtree(self.temp, ignore_errors=True)  # counted: now ours to remove
        return code, left


def timed(client, args, api_name, timeout):
    """(seconds, outcome) of one request; the outcome is "ok", the app's message, or a timeout."""
    start = time.perf_counter()
    job = client.submit(*args, api_name=api_name)
    try:
        result = job.result(timeout=timeout)
        outcome = "ok"
        if api_name == "/convert_lmx":
            outcome = "ok: " + result[2].splitlines()[0]
    except TimeoutError:
        job.cancel()
        outcome = f"no answer within {timeout:.0f} s"
    except Exception as error:  # the app's message, or a generic one
        outcome = f"refused: {str(error).splitlines()[0]}"
    return time.perf_counter() - start, outcome[:110]


def load(server, examples, clients: int, rounds: int, timeout: float):
    from gradio_client import Client, handle_file

    served, failed = [], []

    def one_client(number):
        client = Client(server.url, verbose=False, download_files=False)
        for round_ in range(rounds):
            page = examples[(number + round_) % len(examples)]
            seconds, outcome = timed(client, (handle_file(str(page)), "", 1, True), "/transcribe", timeout)
            (served if outcome == "ok" else failed).append((seconds, outcome))
        client.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=one_client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return served, failed, time.perf_counter() - start


def hostile(server, work: Path, examples, timeout: float):
    from gradio_client import Client, handle_file

    client = Client(server.url, verbose=False, download_files=False)
    files = {
        "pages50k.pdf": blank_pdf(50_000, 20, 20),
        "huge30.pdf": blank_pdf(30, 14_400, 14_400),
        "white13k.png": white_png(13_000),
        "one_page.pdf": page_pdf(examples[0]),
    }
    for name, data in files.items():
        (work / name).write_bytes(data)
    three_eight = "measure time beats:3 beat-type:8 " + " ".join(["measure G4 eighth E4 eighth C4 eighth"] * 5100)
    cases = [
        ("50,000-page PDF, pages '1-50000,' x 20", (handle_file(str(work / "pages50k.pdf")), "1-50000," * 20, 1, True),
         "/transcribe"),
        ("thirty 14400 x 14400 pt PDF pages (4 KB)", (handle_file(str(work / "huge30.pdf")), "", 1, True), "/transcribe"),
        ("13000 x 13000 PNG (200 KB)", (handle_file(str(work / "white13k.png")), "", 1, True), "/transcribe"),
        ("193 KB of 3/8 measures to /convert_lmx", (three_eight[:193_000],), "/convert_lmx"),
        ("a grace-notes-only system, then two good ones", ("\n\n".join([GRACE_ONLY, GOOD_LMX, GOOD_LMX]),),
         "/convert_lmx"),
        ("pages '1' x 10000 (one-page PDF)", (handle_file(str(work / "one_page.pdf")), "1" * 10_000, 1, True),
         "/transcribe"),
        ("beam width 'abc'", (handle_file(str(examples[0])), "", "abc", True), "/transcribe"),
    ]
    rows = []
    for label, args, api_name in cases:
        bystander = []
        if label.startswith("50,000"):  # a one-page PDF sent meanwhile: does it wait for the long one?
            def send_one_page():
                time.sleep(1.0)
                other = Client(server.url, verbose=False, download_files=False)
                bystander.append(timed(other, (handle_file(str(work / "one_page.pdf")), "", 1, True),
                                       "/transcribe", timeout))
                other.close()

            helper = threading.Thread(target=send_one_page)
            helper.start()
        seconds, outcome = timed(client, args, api_name, timeout)
        rows.append((label, seconds, outcome, server.memory_mib()))
        if label.startswith("50,000"):
            helper.join()
            rows.append(("  one-page PDF sent 1 s later", *bystander[0], server.memory_mib()))
    client.close()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-dir", type=Path, default=REPO, help="the checkout whose app.py runs")
    parser.add_argument("--model", default=str(REPO / "checkpoints" / "acai-omr-small"))
    parser.add_argument("--clients", type=int, default=4, choices=range(1, 9))
    parser.add_argument("--rounds", type=int, default=2, choices=range(1, 5))
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    args = parser.parse_args(argv)
    examples = sorted((REPO / "examples").glob("*.png"))
    server = Server(args.app_dir.resolve(), args.model, start_timeout=300)
    try:
        print(f"app {args.app_dir.resolve()} on {server.url}, RSS at start {server.memory_mib():.0f} MiB", flush=True)
        served, failed, seconds = load(server, examples, args.clients, args.rounds, args.timeout)
        print(f"load: {len(served)}/{len(served) + len(failed)} /transcribe requests served in {seconds:.0f} s "
              f"({args.clients} clients x {args.rounds}); slowest {max((s for s, _ in served), default=0):.0f} s; "
              f"RSS {server.memory_mib():.0f} MiB", flush=True)
        for _, outcome in failed:
            print(f"  failed: {outcome}")
        with tempfile.TemporaryDirectory() as work:
            rows = hostile(server, Path(work), examples, args.timeout)
        print("hostile requests (one at a time):")
        for label, request_seconds, outcome, rss in rows:
            print(f"  {label:44s} {request_seconds:7.1f} s  RSS {rss:5.0f} MiB  {outcome}")
        print(f"worst hostile request: {max(s for _, s, _, _ in rows):.1f} s; "
              f"peak RSS of the server (VmHWM): {server.memory_mib('VmHWM'):.0f} MiB")
    finally:
        code, left = server.stop(timeout=60)
    print(f"SIGTERM: exit status {code}, {left} file(s) left in the app's temp dir")


if __name__ == "__main__":
    main()
