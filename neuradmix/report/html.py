"""One self-contained HTML report per cohort.

:func:`build_report` gathers the cohort summary (samples and SNPs at each preparation stage,
populations), the paper's Table 2 and the timings written by ``neuradmix metrics-table``, the
figures written by ``neuradmix plots`` (embedded as base64 ``data:`` URIs), the configuration and
the software versions, and renders them with the Jinja2 template ``report.html``. The file has
no external references, so it opens offline and can be mailed around as is.
"""

from __future__ import annotations

import base64
import importlib.metadata
import platform
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import yaml

from .. import __version__
from ..classic.cv import read_cv_table
from ..data import atomic_outputs, fileset_paths, read_fam_ids, read_labels
from ..data.tables import read_result_table
from ..errors import InputError
from .figures import read_manifest
from .headline import Cell, Table, build_headline

# Column headers as the paper writes them (HTML); unknown columns keep their name.
_HEADERS = {
    "method": "method",
    "model": "model",
    "mode": "mode",
    "k": "K",
    "partition": "partition",
    "n_samples": "individuals",
    "n_snps": "SNPs",
    "log_likelihood": "log-likelihood",
    "l_n_lambda0": "L<sub>N</sub><sup>λ=0</sup>",
    "l_n_lambda0_val": "L<sub>N<sub>V</sub></sub><sup>λ=0</sup>",
    "ami": "AMI",
    "ami_train": "AMI<sub>T</sub>",
    "ami_val": "AMI<sub>V</sub>",
    "delta": "Δ",
    "delta_train": "Δ<sub>T</sub>",
    "delta_val": "Δ<sub>V</sub>",
    "rmse_q": "RMSE(Q)",
    "cv_error": "CV error",
    "train_tool": "training tool",
    "train_fit_seconds": "training fit (s)",
    "train_process_seconds": "training process (s)",
    "train_threads": "training threads",
    "train_device": "training device",
    "infer_tool": "inference tool",
    "infer_fit_seconds": "inference fit (s)",
    "infer_process_seconds": "inference process (s)",
    "infer_threads": "inference threads",
    "infer_device": "inference device",
    "speedup_train": "S<sub>T</sub>",
    "speedup_infer": "S<sub>I</sub>",
}
_TIMING_COLUMNS = [
    "method",
    "model",
    "mode",
    "k",
    "train_tool",
    "train_fit_seconds",
    "train_process_seconds",
    "infer_fit_seconds",
    "infer_process_seconds",
    "speedup_train",
    "speedup_infer",
]
# The metrics-table columns the headline and the speed table read.
_HEADLINE_COLUMNS = [
    "method",
    "model",
    "k",
    "partition",
    "log_likelihood",
    "rmse_q",
    *(f"{stage}_{c}" for stage in ("train", "infer") for c in ("tool", "fit_seconds")),
    *(f"{stage}_{c}" for stage in ("train", "infer") for c in ("process_seconds", "device")),
    "train_threads",
    "speedup_train",
    "speedup_infer",
]
_WRITER = "`neuradmix metrics-table` (the metrics_table rule)"
_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "torch", "matplotlib", "snakemake")


@dataclass
class Fileset:
    stage: str
    samples: int
    snps: int


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def read_fileset(stage: str, prefix: str | Path) -> Fileset:
    """Sample and SNP counts of a PLINK fileset from its ``.fam`` and ``.bim`` files."""
    _, bim, fam = fileset_paths(prefix)
    for part in (fam, bim):
        if not part.is_file():
            raise InputError(
                f"{part}: file not found; --fileset {stage}=PREFIX needs .fam and .bim."
            )
    return Fileset(stage, _count_lines(fam), _count_lines(bim))


def population_table(labels: dict[str, tuple[str | Path, str | Path]]) -> pd.DataFrame:
    """Individuals per population label and partition (``labels[partition] = (file, fileset)``)."""
    counts = {}
    for partition, (label_path, fileset) in labels.items():
        fam = fileset_paths(fileset)[2]
        if not fam.is_file():
            raise InputError(f"{fam}: file not found; labels of {partition} need its fileset.")
        values = read_labels(label_path, read_fam_ids(fam))
        counts[partition] = Counter("(unlabelled)" if v == "" else v for v in values)
    table = pd.DataFrame(counts).fillna(0).astype(int)
    table.index.name = "population"
    return table.sort_index()


def timing_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Fit and whole-process seconds of training and inference and the speedups, one row per
    model and K."""
    columns = [c for c in _TIMING_COLUMNS if c in metrics.columns]
    keys = [c for c in ("method", "model", "mode", "k") if c in columns]
    return metrics[columns].drop_duplicates(subset=keys).reset_index(drop=True)


def _format_value(value) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "–"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def _html_table(table: pd.DataFrame) -> dict:
    """Headers and cells for the template (header markup is ours, cell text is escaped)."""
    headers = [
        jinja2.utils.markupsafe.Markup(_HEADERS[c]) if c in _HEADERS else str(c)
        for c in table.columns
    ]
    rows = [
        [
            Cell(_format_value(v), numeric=isinstance(v, (int, float, np.integer, np.floating)))
            for v in row
        ]
        for row in table.itertuples(index=False)
    ]
    return {"headers": headers, "rows": rows}


def _headline_table(table: Table | None) -> dict | None:
    if table is None:
        return None
    headers = [jinja2.utils.markupsafe.Markup(h) for h in table.headers]  # our own markup
    return {"headers": headers, "rows": table.rows}


def software_versions() -> list[tuple[str, str]]:
    versions = [("neuradmix", __version__), ("python", platform.python_version())]
    for package in _PACKAGES:
        try:
            versions.append((package, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            continue
    for tool, flag in (("plink2", "--version"), ("admixture", "--version")):
        executable = shutil.which(tool)
        if executable is None:
            continue
        try:
            output = subprocess.run(
                [executable, flag], capture_output=True, text=True, timeout=20, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        first = next((line.strip() for line in output.splitlines() if line.strip()), "")
        if first:
            versions.append((tool, first))
    return versions


def render_config(config: str | Path | dict) -> str:
    """The configuration used, as YAML text: a dict, or a YAML/JSON file."""
    if not isinstance(config, dict):
        path = Path(config)
        if not path.is_file():
            raise InputError(f"{path}: configuration file not found.")
        try:
            config = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML or JSON ({exc}).") from None
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True).strip()


def _template() -> jinja2.Template:
    files = resources.files(__package__)
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    template = environment.from_string(files.joinpath("report.html").read_text(encoding="utf-8"))
    template.globals["stylesheet"] = jinja2.utils.markupsafe.Markup(
        files.joinpath("report.css").read_text(encoding="utf-8")
    )
    return template


def _data_uri(path: Path) -> str:
    payload = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{payload}"


def build_report(
    out: str | Path,
    cohort: str,
    figures_dir: str | Path,
    table2: str | Path | None = None,
    metrics: str | Path | None = None,
    filesets: list[tuple[str, str | Path]] = (),
    labels: dict[str, tuple[str | Path, str | Path]] | None = None,
    config: str | Path | dict | None = None,
    cv_files: list[str | Path] = (),
    reference: str | None = None,
) -> Path:
    """Render ``out`` (a single HTML file); nothing is written if any input is bad.

    ``table2`` and ``metrics`` are the files of ``neuradmix metrics-table``; ``filesets`` are
    ``(stage, PLINK prefix)`` pairs for the summary; ``labels[partition] = (labels, prefix)``;
    ``cv_files`` the CV tables and ``reference`` the baseline model of the headline.
    """
    entries = read_manifest(figures_dir)
    figures = [
        {
            "id": Path(entry.file).stem,
            "title": entry.title,
            "caption": entry.caption,
            "src": _data_uri(Path(figures_dir) / entry.file),
        }
        for entry in entries
    ]
    stages = [read_fileset(stage, prefix) for stage, prefix in filesets]
    populations = population_table(labels) if labels else None
    table2_view = None
    if table2 is not None:
        table = read_result_table(table2, "Table 2", ["method", "model", "k"], _WRITER)
        table2_view = _html_table(table.drop(columns=["cohort"], errors="ignore"))
    cv = None
    if cv_files:
        cv = pd.concat([read_cv_table(path) for path in cv_files], ignore_index=True)
    metrics_view = timing_view = None
    headline = None
    if metrics is not None:
        table = read_result_table(
            metrics, "metrics table", ["method", "model", "k", "partition"], _WRITER
        )
        missing = [c for c in _HEADLINE_COLUMNS if c not in table.columns]
        if missing:
            raise InputError(
                f"{metrics}: no column {', '.join(missing)}; it was written by another version "
                f"of {_WRITER}: rerun it."
            )
        table = table.drop(columns=["cohort"], errors="ignore")
        metrics_view = _html_table(table)
        timing_view = _html_table(timing_table(table))
        found = build_headline(table, cv, reference)
        headline = {
            "best_k": found.best_k,
            "loglik_gap": _headline_table(found.loglik_gap),
            "speed": _headline_table(found.speed),
            "speed_note": found.speed_note,
            "rmse": _headline_table(found.rmse),
            "reference": found.reference,
        }
    context = {
        "cohort": cohort,
        "stages": stages,
        "populations": None
        if populations is None
        else {
            "partitions": list(populations.columns),
            "rows": [(name, list(row)) for name, row in populations.iterrows()],
            "count": len(populations),
        },
        "headline": headline,
        "table2": table2_view,
        "metrics": metrics_view,
        "timing": timing_view,
        "figures": figures,
        "config": render_config(config) if config is not None else None,
        "versions": software_versions(),
    }
    html = _template().render(**context)
    out = Path(out)
    with atomic_outputs() as staged:
        staged(out).write_text(html, encoding="utf-8")
    return out
