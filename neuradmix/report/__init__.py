"""One self-contained HTML report per cohort.

:func:`build_report` gathers the cohort summary (samples and SNPs at each preparation stage,
populations), the metrics table, speedups from Snakemake benchmark files, the figures written by
``neuradmix plots`` (embedded as base64 ``data:`` URIs), the configuration and the software
versions, and renders them with the Jinja2 template ``report.html``. The file has no external
references, so it opens offline and can be mailed around as is.
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
from ..errors import InputError, atomic_outputs
from ..io import plink_prefix, read_labels
from .figures import FigureEntry, parse_assignment, read_manifest

__all__ = ["build_report", "FigureEntry", "parse_assignment"]

_METRIC_NAMES = {
    "log_likelihood": "log-likelihood",
    "l_n_lambda0": "−L<sub>N</sub><sup>λ=0</sup>",
    "ami": "AMI",
    "delta": "Δ",
    "rmse_q": "RMSE(Q)",
    "n_samples": "samples",
    "n_snps": "SNPs",
    "seconds": "seconds",
}
_PARTITION_SUFFIX = {"train": "T", "training": "T", "val": "V", "validation": "V"}
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
    prefix = plink_prefix(prefix)
    fam, bim = (prefix.with_name(prefix.name + ext) for ext in (".fam", ".bim"))
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
        prefix = plink_prefix(fileset)
        fam = prefix.with_name(prefix.name + ".fam")
        if not fam.is_file():
            raise InputError(f"{fam}: file not found; labels of {partition} need its fileset.")
        ids = [line.split()[1] for line in fam.read_text().splitlines() if line.strip()]
        values = read_labels(label_path, ids)
        counts[partition] = Counter("(unlabelled)" if v == "" else v for v in values)
    table = pd.DataFrame(counts).fillna(0).astype(int)
    table.index.name = "population"
    return table.sort_index()


def read_benchmark_seconds(path: str | Path) -> float:
    """Wall-clock seconds of a Snakemake ``benchmark:`` file (mean over its repeats)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: benchmark file not found; it is written by Snakemake.")
    try:
        table = pd.read_csv(path, sep="\t")
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        table = pd.DataFrame()
    if "s" not in table.columns or table.empty:
        raise InputError(
            f"{path}: not a Snakemake benchmark file (no 's' column); point --benchmark at the "
            "file named in the rule's benchmark: directive."
        )
    return float(pd.to_numeric(table["s"], errors="coerce").mean())


def speedup_table(benchmarks: dict[tuple[str, str, str], float]) -> pd.DataFrame:
    """Speedup S = T_baseline / T_neural for every stage, neural run and baseline.

    ``benchmarks[(kind, stage, name)] = seconds`` with ``kind`` ``neural`` or ``baseline`` and
    ``stage`` ``train`` or ``infer`` (projection of new samples for the baseline).
    """
    rows = []
    stages = sorted({stage for _, stage, _ in benchmarks})
    for stage in stages:
        neural = {
            n: s for (kind, st, n), s in benchmarks.items() if kind == "neural" and st == stage
        }
        classic = {
            n: s for (kind, st, n), s in benchmarks.items() if kind == "baseline" and st == stage
        }
        for n_name, n_seconds in sorted(neural.items()):
            for b_name, b_seconds in sorted(classic.items()):
                rows.append(
                    {
                        "stage": stage,
                        "neural": n_name,
                        "baseline": b_name,
                        "neural seconds": n_seconds,
                        "baseline seconds": b_seconds,
                        "speedup": b_seconds / n_seconds if n_seconds > 0 else float("nan"),
                    }
                )
    return pd.DataFrame(rows)


def metrics_table(path: str | Path) -> pd.DataFrame:
    """The cohort metrics laid out like the paper's Table 2: one row per model and K.

    If the table has a ``partition`` column, each metric becomes one column per partition with
    the paper's T/V suffix (``AMI_T``, ``AMI_V``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: metrics table not found; it is written by the evaluate rule.")
    try:
        table = pd.read_csv(path, sep="\t")
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        raise InputError(
            f"{path}: not a tab-separated table with a header line; rerun the evaluate rule."
        ) from None
    if table.empty:
        raise InputError(f"{path}: the metrics table has no rows; rerun the evaluate rule.")
    lower = {c: c.lower() for c in table.columns}
    table = table.rename(columns=lower)
    numeric = [c for c in table.columns if c != "k" and pd.api.types.is_numeric_dtype(table[c])]
    ids = [c for c in table.columns if c not in numeric and c != "partition"]
    if "partition" in table.columns and ids:
        metrics = [c for c in numeric if c not in ("n_samples", "n_snps")]
        wide = table.pivot_table(index=ids, columns="partition", values=metrics, aggfunc="first")
        wide.columns = [
            f"{_METRIC_NAMES.get(m, m)}<sub>{_PARTITION_SUFFIX.get(p, p)}</sub>"
            for m, p in wide.columns
        ]
        wide = wide.reset_index()
        table = wide[ids + sorted(wide.columns[len(ids) :], key=_metric_order(metrics))]
    else:
        table = table.rename(columns={c: _METRIC_NAMES.get(c, c) for c in table.columns})
    return table


def _metric_order(metrics: list[str]):
    names = [_METRIC_NAMES.get(m, m) for m in metrics]

    def key(column: str):
        base = column.split("<sub>")[0]
        return (names.index(base) if base in names else len(names), column)

    return key


def _format_value(value) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "–"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def _html_table(table: pd.DataFrame, header_is_html: bool = False) -> dict:
    """Headers and formatted cells for the template (header markup is ours, cells are escaped)."""
    headers = [
        jinja2.utils.markupsafe.Markup(c) if header_is_html else str(c) for c in table.columns
    ]
    rows = [[_format_value(v) for v in row] for row in table.itertuples(index=False)]
    return {"headers": headers, "rows": rows}


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


def read_config(path: str | Path) -> str:
    """The configuration used, as YAML text (accepts YAML or JSON files)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: configuration file not found.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML or JSON ({exc}).") from None
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).strip()


def _template() -> jinja2.Template:
    files = resources.files(__name__)
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
    metrics: str | Path | None = None,
    filesets: list[tuple[str, str | Path]] = (),
    labels: dict[str, tuple[str | Path, str | Path]] | None = None,
    benchmarks: dict[tuple[str, str, str], str | Path] | None = None,
    config: str | Path | None = None,
) -> Path:
    """Render ``out`` (a single HTML file); nothing is written if any input is bad."""
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
    seconds = {key: read_benchmark_seconds(path) for key, path in (benchmarks or {}).items()}
    speedups = speedup_table(seconds) if seconds else pd.DataFrame()
    metrics_view = metrics_table(metrics) if metrics is not None else None
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
        "metrics": None if metrics_view is None else _html_table(metrics_view, header_is_html=True),
        "speedups": None if speedups.empty else _html_table(speedups),
        "figures": figures,
        "config": read_config(config) if config is not None else None,
        "versions": software_versions(),
    }
    html = _template().render(**context)
    out = Path(out)
    with atomic_outputs() as staged:
        staged(out).write_text(html, encoding="utf-8")
    return out
