import base64
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuradmix.cli import main
from neuradmix.data import write_bed, write_labels, write_p, write_q
from neuradmix.simulation.psd import simulate_psd

N_TRAIN, N_VAL, N_SNPS = 64, 16, 300


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    """A tiny cohort laid out like results/{cohort}/ of the workflow."""
    root = tmp_path_factory.mktemp("cohort")
    planted = simulate_psd(N_TRAIN + N_VAL, N_SNPS, 3, fst=0.25, alpha=0.2, seed=11)
    train = planted.genotypes.select_samples(np.arange(N_TRAIN))
    val = planted.genotypes.select_samples(np.arange(N_TRAIN, N_TRAIN + N_VAL))
    (root / "prepare").mkdir()
    write_bed(root / "prepare/raw", planted.genotypes)
    write_bed(root / "prepare/train", train)
    write_bed(root / "prepare/val", val)
    write_labels(root / "prepare/train.labels", train.sample_ids, planted.labels[:N_TRAIN])
    write_labels(root / "prepare/val.labels", val.sample_ids, planted.labels[N_TRAIN:])
    rng = np.random.default_rng(0)
    for run, columns in (("neural/single", [0, 1, 2]), ("baseline/em", [2, 0, 1])):
        (root / run).mkdir(parents=True)
        for k in (2, 3):
            if k == 3:
                q, p = planted.q[:, columns], planted.p[:, columns]
            else:
                q = rng.dirichlet(np.ones(2), N_TRAIN + N_VAL)
                p = rng.uniform(0.05, 0.95, (N_SNPS, 2))
            write_q(root / run / f"train.{k}.Q", q[:N_TRAIN])
            write_q(root / run / f"val.{k}.Q", q[N_TRAIN:])
            write_p(root / run / f"train.{k}.P", p)
    (root / "neural/single/train.loss.tsv").write_text(
        "epoch\ttrain_loss\tval_loss\tseconds\n1\t3.0\t3.2\t0.1\n2\t2.1\t2.4\t0.1\n"
    )
    (root / "cv").mkdir()
    (root / "cv/em.cv.tsv").write_text("k\tcv_error\n2\t0.61\n3\t0.48\n")
    table2 = pd.DataFrame(
        {
            "cohort": "tiny",
            "method": ["baseline", "neural"],
            "model": ["em", "single"],
            "mode": ["classic", "unsupervised"],
            "k": [3, 3],
            "l_n_lambda0_val": [7.506e8, 7.674e8],
            "delta_train": [11.0, 2.1],
            "delta_val": [2.5, 0.52],
            "ami_train": [0.85, 0.89],
            "ami_val": [0.81, 0.8765],
            "speedup_train": [1.0, 5.78],
            "speedup_infer": [1.0, 114.0],
        }
    )
    table2.to_csv(root / "table2.tsv", sep="\t", index=False)
    metrics = table2[["cohort", "method", "model", "mode", "k"]].copy()
    metrics["partition"] = "train"
    metrics["ami"] = [0.85, 0.89]
    metrics["train_seconds"] = [12.5, 2.0]
    metrics["infer_seconds"] = [3.0, 0.02]
    metrics.to_csv(root / "metrics.tsv", sep="\t", index=False)
    return root


def _plots_args(root: Path, out_dir: Path, max_samples: int = 3000) -> list[str]:
    return [
        "plots",
        "--train-bed", str(root / "prepare/train"),
        "--train-labels", str(root / "prepare/train.labels"),
        "--val-bed", str(root / "prepare/val.fam"),
        "--val-labels", str(root / "prepare/val.labels"),
        "--run", f"neural/single={root / 'neural/single'}",
        "--run", f"baseline/em={root / 'baseline/em'}",
        "--k", "2", "3",
        "--main-k", "3",
        "--cv", str(root / "cv/em.cv.tsv"),
        "--loss", f"single={root / 'neural/single/train.loss.tsv'}",
        "--lambda-run", f"0.01={root / 'neural/single'}",
        "--lambda-run", f"1={root / 'baseline/em'}",
        "--max-samples", str(max_samples),
        "--out-dir", str(out_dir),
    ]  # fmt: skip


def _report_args(root: Path, figures: Path, out: Path) -> list[str]:
    return [
        "report",
        "--cohort", "tiny",
        "--figures", str(figures),
        "--table2", str(root / "table2.tsv"),
        "--metrics", str(root / "metrics.tsv"),
        "--fileset", f"input={root / 'prepare/raw'}",
        "--fileset", f"training={root / 'prepare/train'}",
        "--labels", f"train={root / 'prepare/train.labels'}:{root / 'prepare/train'}",
        "--labels", f"val={root / 'prepare/val.labels'}:{root / 'prepare/val'}",
        "--config-json", json.dumps({"neural": {"runs": {"single": {"k": 3}}}}),
        "--out", str(out),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def built_report(cohort_dir):
    figures = cohort_dir / "figures"
    assert main(_plots_args(cohort_dir, figures, max_samples=40)) == 0
    out = cohort_dir / "report.html"
    assert main(_report_args(cohort_dir, figures, out)) == 0
    return figures, out


def test_plots_write_every_figure_with_a_caption(built_report):
    figures, _ = built_report
    manifest = json.loads((figures / "figures.json").read_text())
    names = [entry["file"] for entry in manifest]
    assert names == ["structure.png", "pca.png", "multik.png", "cv.png", "loss.png", "lambda.png"]
    for entry in manifest:
        assert (figures / entry["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert entry["caption"].endswith(".")
    captions = {entry["file"]: entry["caption"] for entry in manifest}
    # 64 training individuals drawn as 40: the caption says so; 16 validation ones are all drawn.
    assert f"40 of {N_TRAIN} training individuals" in captions["structure.png"]
    assert "validation" not in captions["structure.png"]
    assert "em: K=3" in captions["cv.png"]


def test_simulated_truth_is_drawn_first_and_sets_the_colours(cohort_dir, tmp_path):
    planted = simulate_psd(N_TRAIN + N_VAL, N_SNPS, 3, fst=0.25, alpha=0.2, seed=11)
    write_q(tmp_path / "train.truth.Q", planted.q[:N_TRAIN])
    write_q(tmp_path / "val.truth.Q", planted.q[N_TRAIN:])
    args = _plots_args(cohort_dir, tmp_path / "figures") + [
        "--train-truth", str(tmp_path / "train.truth.Q"),
        "--val-truth", str(tmp_path / "val.truth.Q"),
    ]  # fmt: skip
    assert main(args) == 0
    manifest = json.loads((tmp_path / "figures/figures.json").read_text())
    assert "top row is the simulated truth" in manifest[0]["caption"]
    (tmp_path / "bad.truth.Q").write_text("0.5 0.5\n" * N_VAL)
    args[-1] = str(tmp_path / "bad.truth.Q")
    assert main(args) == 2


def test_plots_are_deterministic(cohort_dir, built_report, tmp_path):
    figures, _ = built_report
    assert main(_plots_args(cohort_dir, tmp_path / "again", max_samples=40)) == 0
    for path in sorted(figures.iterdir()):
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes(), path.name


def test_report_is_self_contained_and_complete(built_report):
    figures, out = built_report
    html = out.read_text()
    text = re.sub(r'"data:image/png;base64,[A-Za-z0-9+/=]+"', '""', html)
    assert not re.search(r"(https?:)?//[a-z0-9]", text, flags=re.I)
    assert not re.search(r'(src|href)="(?!#|")', text) and "url(" not in text
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == len(json.loads((figures / "figures.json").read_text()))
    for source in sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        assert base64.b64decode(source[len(prefix) :])[:4] == b"\x89PNG"
    assert "<script" not in html and "<link" not in html
    for text in ("Ancestry report: tiny", "How to read the barplots", "0.8765", "114", "12.5"):
        assert text in html
    # Cohort summary: 80 input individuals, 64 for training, SNP counts, populations per partition.
    assert re.search(r"<td>input</td><td class=\"num\">80</td><td class=\"num\">300</td>", html)
    assert re.search(r"<td>training</td><td class=\"num\">64</td>", html)
    assert "3 population labels" in html
    assert "single:\n" in html  # configuration rendered as YAML
    assert "neuradmix</td><td>" in html  # software versions


def test_missing_result_is_one_clear_error_and_leaves_no_figures(cohort_dir, tmp_path, capsys):
    broken = tmp_path / "cohort"
    shutil.copytree(cohort_dir, broken, ignore=shutil.ignore_patterns("figures", "report.html"))
    (broken / "neural/single/train.2.P").unlink()
    out_dir = tmp_path / "figures"
    assert main(_plots_args(broken, out_dir)) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "train.2.P" in error and "not found" in error
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_plots_refuse_a_main_k_nobody_trained(cohort_dir, tmp_path, capsys):
    args = _plots_args(cohort_dir, tmp_path / "figures")
    args[args.index("--main-k") + 1] = "7"
    assert main(args) == 2
    assert "--main-k 7" in capsys.readouterr().err


def test_report_with_a_bad_table_fails_cleanly(cohort_dir, built_report, tmp_path, capsys):
    figures, _ = built_report
    bad = tmp_path / "table2.tsv"
    bad.write_text("this is not a table\n")
    args = _report_args(cohort_dir, figures, tmp_path / "report.html")
    args[args.index("--table2") + 1] = str(bad)
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert str(bad) in error and len(error.splitlines()) == 1
    assert not (tmp_path / "report.html").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["table2.tsv"]


# --------------------------------------------------------------------------------------------
# A real browser: headless Chromium driven over the DevTools protocol (--remote-debugging-pipe)
# --------------------------------------------------------------------------------------------

_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _find_chromium():
    return next((shutil.which(name) for name in _CHROMIUM_NAMES if shutil.which(name)), None)


@pytest.fixture(scope="session")
def chromium():
    found = _find_chromium()
    if found:
        return found
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            "Chromium is not installed and cannot be installed here (needs root and apt-get); "
            "install the Debian package 'chromium' to run the browser test."
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
    ):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
            pytest.skip(f"Chromium could not be installed with {' '.join(command)}: {tail}")
    found = _find_chromium()
    if not found:
        pytest.skip("apt-get installed 'chromium' but no chromium executable is on PATH.")
    return found


class DevTools:
    """Minimal DevTools-protocol client over Chromium's pipe transport (fds 3 and 4)."""

    def __init__(self, executable: str, profile: Path):
        to_browser_read, self._write = os.pipe()
        self._read, from_browser_write = os.pipe()

        def wire_pipes():  # runs in the child before exec: fd 3 = commands, fd 4 = replies
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self.process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire_pipes,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer in time.")
            ready, _, _ = select.select([self._read], [], [], remaining)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe.")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params=None, session=None, timeout: float = 60) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._receive(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._read)
        os.close(self._write)


_IMAGE_PROBE = """
Promise.all(Array.from(document.images).map(img =>
  img.decode().then(
    () => ({ok: true, width: img.naturalWidth, height: img.naturalHeight}),
    () => ({ok: false, width: img.naturalWidth, height: img.naturalHeight}))))
"""


def load_in_browser(executable: str, page: Path, profile: Path) -> dict:
    """Open ``page`` and report its requests, failed requests and the state of every image."""
    browser = DevTools(executable, profile)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        browser.call("Network.enable", session=session)
        browser.call("Page.enable", session=session)
        browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        probe = browser.call(
            "Runtime.evaluate",
            {"expression": _IMAGE_PROBE, "awaitPromise": True, "returnByValue": True},
            session=session,
        )
    finally:
        browser.close()
    events = browser.events
    requests = [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    failed = [e["params"] for e in events if e.get("method") == "Network.loadingFailed"]
    failed += [
        e["params"]["response"]
        for e in events
        if e.get("method") == "Network.responseReceived"
        and e["params"]["response"].get("status", 200) >= 400
    ]
    return {"requests": requests, "failed": failed, "images": probe["result"]["value"]}


def test_report_renders_in_headless_chromium(chromium, built_report, tmp_path):
    figures, out = built_report
    result = load_in_browser(chromium, out, tmp_path / "profile")
    assert result["failed"] == []
    # The only request is the page itself (embedded images may show up as data: URLs).
    assert [u for u in result["requests"] if not u.startswith("data:")] == [out.resolve().as_uri()]
    images = result["images"]
    assert len(images) == len(json.loads((figures / "figures.json").read_text()))
    assert all(image["ok"] and image["width"] > 100 and image["height"] > 100 for image in images)


def test_browser_check_catches_broken_images_and_failed_requests(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body>"
        '<img src="data:image/png;base64,AAAA">'
        '<img src="http://127.0.0.1:9/missing.png">'
        "</body></html>"
    )
    result = load_in_browser(chromium, page, tmp_path / "profile")
    assert len(result["failed"]) >= 1
    assert any(u.startswith("http://127.0.0.1:9/") for u in result["requests"])
    assert [image["ok"] for image in result["images"]] == [False, False]
