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
        "epoch\tstage\ttrain_loss\tseconds\n1\tcommon SNPs\t3.0\t0.1\n2\tall SNPs\t2.1\t0.1\n"
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
    rows = []
    for method, model, tool, fit, infer, device in (
        ("baseline", "em", "em", 12.5, 3.0, "cpu (test CPU)"),
        ("neural", "single", "neural", 2.0, 0.02, "cuda:0 (test GPU)"),
        ("neural", "multi", "neural", 2.5, 0.03, "cuda:0 (test GPU)"),
    ):
        for k in (2, 3):
            for partition in ("train", "val"):
                loglik = {"em": -1000.0, "single": -1010.0, "multi": -1001.0}[model] * k
                rows.append(
                    {
                        "cohort": "tiny", "method": method, "model": model,
                        "mode": "classic" if method == "baseline" else "unsupervised",
                        "partition": partition, "k": k, "n_samples": 64, "n_snps": 300,
                        "log_likelihood": loglik, "l_n_lambda0": -loglik / 2, "ami": 0.85,
                        "delta": 1.0, "rmse_q": np.nan,
                        "cv_error": {2: 0.61, 3: 0.48}[k] if method == "baseline" else np.nan,
                        "train_tool": tool, "train_fit_seconds": fit,
                        "train_process_seconds": fit + 4.0, "train_threads": 2,
                        "train_device": device, "infer_tool": tool,
                        "infer_fit_seconds": infer, "infer_process_seconds": infer + 3.5,
                        "infer_threads": 2, "infer_device": device,
                        "speedup_train": 25.0 / (2 * fit) if method == "neural" else 1.0,
                        "speedup_infer": 6.0 / (2 * infer) if method == "neural" else 1.0,
                    }
                )  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "metrics.tsv", sep="\t", index=False, na_rep="NA")
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
        "--out", str(out_dir),
    ]  # fmt: skip


def _report_args(root: Path, figures: Path, out: Path) -> list[str]:
    """``out`` is the HTML file: --out its directory, --name its stem."""
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
        "--cv", str(root / "cv/em.cv.tsv"),
        "--reference-baseline", "em",
        "--out", str(out.parent), "--name", out.stem,
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
    # Timings: fit and whole-process seconds side by side.
    assert "training fit (s)</th><th>training process (s)" in html
    # Cohort summary: 80 input individuals, 64 for training, SNP counts, populations per partition.
    assert re.search(r"<td>input</td><td class=\"num\">80</td><td class=\"num\">300</td>", html)
    assert re.search(r"<td>training</td><td class=\"num\">64</td>", html)
    assert "3 population labels" in html
    assert "single:\n" in html  # configuration rendered as YAML
    assert "neuradmix</td><td>" in html  # software versions


def _headline(html: str) -> str:
    return html[html.index('<section id="headline">') : html.index('<section id="summary">')]


def test_headline_opens_the_report_with_best_k_gap_speed_and_hardware(built_report):
    _, out = built_report
    html = out.read_text()
    assert html.index('<section id="headline">') < html.index('<section id="summary">')
    headline = _headline(html)
    assert "Best K by cross-validation with block relaxation (em): K=3 (CV error 0.48" in headline
    # Training log-likelihood relative to em's: single is 1% below at each K, multi 0.1% (best).
    assert headline.count('<td class="num best">-0.100%</td>') == 2
    assert headline.count('<td class="num">-1.000%</td>') == 2
    # Speed on the fit seconds: single trains in 2 s against em's 12.5 s x 2 K (6.25x, the best)
    # and assigns in 0.02 s against 3 s x 2 projections (150x).
    assert '<td class="num best">6.25×</td>' in headline
    assert '<td class="num best">150×</td>' in headline
    assert '<td class="num">5×</td>' in headline
    assert "this package&#39;s block relaxation, em" in headline and "cpu (test CPU)" in headline
    assert "cuda:0 (test GPU)" in headline and "file reading excluded" in headline
    assert "RMSE" not in headline  # a real cohort has no truth


def test_a_polished_run_is_labelled_as_the_classic_engines_continuation():
    from neuradmix.report.headline import loglik_gap_table, run_labels, speed_table

    rows = []
    for model, method, tool, loglik in (
        ("em", "baseline", "em", -1000.0),
        ("single", "neural", "neural", -1000.5),
        ("polished", "neural", "neural+polish", -1000.0),
    ):
        rows.append(
            {
                "method": method,
                "model": model,
                "k": 3,
                "partition": "train",
                "log_likelihood": loglik,
                "train_tool": tool,
                "train_fit_seconds": 1.0,
                "infer_fit_seconds": 0.1,
                "speedup_train": 2.0,
                "speedup_infer": 3.0,
                "train_threads": 2,
                "train_device": "cpu",
                "infer_tool": tool,
                "infer_device": "cpu",
            }  # fmt: skip
        )
    metrics = pd.DataFrame(rows)
    assert run_labels(metrics) == {
        "single": "single",
        "polished": "polished (network + classic polish)",
    }
    assert loglik_gap_table(metrics, "em").headers == [
        "K", "single", "polished (network + classic polish)"
    ]  # fmt: skip
    table, _ = speed_table(metrics, "em")
    assert [row[0].text for row in table.rows] == [
        "single", "polished (network + classic polish)"
    ]  # fmt: skip


def test_rmse_against_the_truth_marks_the_lowest_per_partition():
    from neuradmix.report.headline import rmse_table

    metrics = pd.DataFrame(
        {
            "method": ["neural", "neural", "baseline", "baseline", "neural"],
            "model": ["single", "single", "em", "em", "multi"],
            "k": [3, 3, 3, 3, 2],
            "partition": ["train", "val", "train", "val", "train"],
            "rmse_q": [0.05, 0.09, 0.04, 0.12, np.nan],
        }
    )
    table = rmse_table(metrics)
    cells = {row[0].text: [(c.text, c.best) for c in row[2:]] for row in table.rows}
    assert cells == {
        "neural/single": [("0.0500", False), ("0.0900", True)],
        "baseline/em": [("0.0400", True), ("0.1200", False)],
    }
    assert rmse_table(metrics.assign(rmse_q=np.nan)) is None


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


_LAYOUT_PROBE = """
(() => {
  const page = document.documentElement;
  const tables = Array.from(document.querySelectorAll('table'));
  const headline = document.querySelector('#headline');
  return {
    pageWidth: page.scrollWidth,
    viewportWidth: page.clientWidth,
    tablesOutsideScrollBoxes: tables.filter(t => !t.closest('.scroll')).length,
    scrollingBoxes: Array.from(document.querySelectorAll('.scroll'))
      .filter(box => box.scrollWidth > box.clientWidth + 1).length,
    headlineTop: headline ? headline.getBoundingClientRect().top : null,
    highlighted: Array.from(document.querySelectorAll('#headline td.best'))
      .filter(td => getComputedStyle(td).backgroundColor !== 'rgba(0, 0, 0, 0)').length,
  };
})()
"""


def load_in_browser(executable: str, page: Path, profile: Path, width: int = 800) -> dict:
    """Open ``page`` in a ``width``-pixel window and report its requests, failed requests, the
    state of every image and the layout (page width, tables, headline)."""
    browser = DevTools(executable, profile)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.call("Network.enable", session=session)
        browser.call("Page.enable", session=session)
        browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        probe = browser.call(
            "Runtime.evaluate",
            {"expression": _IMAGE_PROBE, "awaitPromise": True, "returnByValue": True},
            session=session,
        )
        layout = browser.call(
            "Runtime.evaluate",
            {"expression": _LAYOUT_PROBE, "returnByValue": True},
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
    return {
        "requests": requests,
        "failed": failed,
        "images": probe["result"]["value"],
        "layout": layout["result"]["value"],
    }


def test_report_renders_in_headless_chromium(chromium, built_report, tmp_path):
    figures, out = built_report
    result = load_in_browser(chromium, out, tmp_path / "profile")
    assert result["failed"] == []
    # The only request is the page itself (embedded images may show up as data: URLs).
    assert [u for u in result["requests"] if not u.startswith("data:")] == [out.resolve().as_uri()]
    images = result["images"]
    assert len(images) == len(json.loads((figures / "figures.json").read_text()))
    assert all(image["ok"] and image["width"] > 100 and image["height"] > 100 for image in images)
    # At 800 px the page does not widen: every table sits in a box that scrolls on its own,
    # and the widest ones do scroll there. The headline is on the first screen, highlighted.
    layout = result["layout"]
    assert layout["pageWidth"] <= layout["viewportWidth"] <= 800  # a scrollbar may take some
    assert layout["tablesOutsideScrollBoxes"] == 0 and layout["scrollingBoxes"] >= 1
    assert layout["headlineTop"] is not None and layout["headlineTop"] < 900
    assert layout["highlighted"] >= 4


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
