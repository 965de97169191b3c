"""Peak memory of the workflow's preparation steps on two cohort sizes.

The split and the SNP downsampling are chosen by the package from the ``.fam``/``.bim`` only
(``neuradmix split``, ``neuradmix downsample``) and written by plink2 (``--keep``,
``--extract``, ``--indep-pairwise``), which streams the genotypes. This script builds two
synthetic PLINK cohorts, the second 16 times larger (4x samples, 4x SNPs), runs each command
exactly as the rules do under ``/usr/bin/time -v`` and prints the peak resident memory (RSS) of
each. For reference it also measures reading the whole cohort into Python (what ``split`` and
``downsample`` did before they used plink2), which grows with the ``.bed``.

    python benchmarks/prepare_memory.py                 # 2,000 x 50,000 and 8,000 x 200,000
    python benchmarks/prepare_memory.py --scale 0.25    # smaller, for a quick look

Needs plink2 and GNU time (/usr/bin/time); writes its cohorts under a temporary directory
(about 0.45 GB at the default sizes) and removes them afterwards.

Measured on 2 cores (plink2 v2.00a3.5, --memory 640), peak RSS and wall time:

| step | 2,000 x 50,000 (.bed 24 MB) | 8,000 x 200,000 (.bed 381 MB) |
|---|---|---|
| split: neuradmix split (.fam only) | 170 MB, 0.8 s | 171 MB, 1.1 s |
| partition: plink2 --keep | 52 MB, 0.1 s | 133 MB, 1.1 s |
| snp_list: neuradmix downsample (.bim only) | 177 MB, 1.1 s | 204 MB, 1.4 s |
| downsample: plink2 --extract | 35 MB, 0.1 s | 47 MB, 0.2 s |
| snp_list (ld_prune): plink2 --indep-pairwise | 34 MB, 0.1 s | 270 MB, 1.1 s |
| before: whole .bed read into Python (old split/downsample) | 196 MB, 1.1 s | 575 MB, 3.1 s |

The package's two steps stay at the interpreter's own ~170 MB (downsample adds 8 bytes per SNP
for its duplicate-ID check and reads the .bim in chunks of 262,144 lines); plink2 stays within
its --memory workspace (with --memory 2000 it caches the whole 381 MB .bed: 471 MB for --keep).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
POPULATIONS = ("A", "B", "C", "D")


def write_cohort(prefix: Path, n_samples: int, n_snps: int, seed: int = 1) -> None:
    """A PLINK 1 fileset of random genotypes (no missing calls), written SNP block by block."""
    rng = np.random.default_rng(seed)
    bytes_per_snp = (n_samples + 3) // 4
    with open(f"{prefix}.bed", "wb") as bed:
        bed.write(bytes([0x6C, 0x1B, 0x01]))
        for start in range(0, n_snps, 10_000):
            rows = min(10_000, n_snps - start)
            block = rng.integers(0, 256, size=(rows, bytes_per_snp), dtype=np.uint8)
            missing = (block & 0x55) & ~((block >> 1) & 0x55)  # code 01 is "missing"
            bed.write((block & ~missing).tobytes())
    with open(f"{prefix}.bim", "w") as bim:
        for j in range(n_snps):
            bim.write(f"1\trs{j}\t0\t{(j + 1) * 100}\tA\tG\n")
    with open(f"{prefix}.fam", "w") as fam, open(f"{prefix}.pops", "w") as pops:
        for i in range(n_samples):
            fam.write(f"i{i} i{i} 0 0 0 -9\n")
            pops.write(f"i{i}\t{POPULATIONS[i % len(POPULATIONS)]}\n")


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """Peak RSS (MB) and wall seconds of ``command``, from GNU time."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    result = subprocess.run(
        ["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=False, env=env
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    hours, minutes, seconds = (float(x) if x else 0.0 for x in wall.groups())
    return int(rss.group(1)) / 1024, 3600 * hours + 60 * minutes + seconds


def commands(prefix: Path, out: Path, n_snps: int, memory_mb: int) -> list[tuple[str, list]]:
    python = [sys.executable, "-m", "neuradmix"]
    plink = ["plink2", "--bfile", str(prefix), "--threads", "2", "--memory", str(memory_mb)]
    return [
        ("split: neuradmix split (.fam only)",
         [*python, "split", f"{prefix}.fam", "--labels", f"{prefix}.pops", "--out", str(out)]),
        ("partition: plink2 --keep",
         [*plink, "--keep", str(out / "train.keep"), "--make-bed", "--out", str(out / "train")]),
        ("snp_list: neuradmix downsample (.bim only)",
         [*python, "downsample", f"{prefix}.bim", "--target", str(n_snps // 10), "--out",
          str(out), "--name", "ds"]),
        ("downsample: plink2 --extract",
         [*plink, "--extract", str(out / "ds.snps"), "--make-bed", "--out", str(out / "ds")]),
        ("snp_list (ld_prune): plink2 --indep-pairwise",
         [*plink, "--indep-pairwise", "50", "10", "0.1", "--out", str(out / "ld")]),
        ("before: whole .bed read into Python (old split/downsample)",
         [sys.executable, "-c", f"from neuradmix.data import read_bed; read_bed('{prefix}.bed')"]),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="size factor (default 1)")
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=640,
        help="plink2 --memory, its workspace (default 640, plink2's minimum; the rules give it "
        "80%% of the rule's mem_mb)",
    )
    args = parser.parse_args()
    if shutil.which("plink2") is None or not Path("/usr/bin/time").exists():
        sys.exit("needs plink2 on PATH and GNU time at /usr/bin/time.")
    sizes = [
        (int(2000 * args.scale) // 4 * 4, int(50_000 * args.scale)),
        (int(8000 * args.scale) // 4 * 4, int(200_000 * args.scale)),
    ]
    results = {}
    with tempfile.TemporaryDirectory(prefix="neuradmix-prepare-memory-") as tmp:
        for n_samples, n_snps in sizes:
            directory = Path(tmp) / f"{n_samples}x{n_snps}"
            directory.mkdir()
            prefix = directory / "cohort"
            write_cohort(prefix, n_samples, n_snps)
            size_mb = (prefix.with_suffix(".bed")).stat().st_size / 2**20
            print(f"cohort {n_samples} x {n_snps}: .bed {size_mb:.0f} MB", file=sys.stderr)
            for label, command in commands(prefix, directory, n_snps, args.memory_mb):
                results[(label, n_samples, n_snps)] = (*peak_rss_mb(command), size_mb)
    header = "| step | " + " | ".join(
        f"{n:,} x {m:,} (.bed {results[(next(iter(results))[0], n, m)][2]:.0f} MB)"
        for n, m in sizes
    )
    print(header + " |")
    print("|---" * (len(sizes) + 1) + "|")
    for label in dict.fromkeys(key[0] for key in results):
        cells = [
            f"{results[(label, n, m)][0]:.0f} MB, {results[(label, n, m)][1]:.1f} s"
            for n, m in sizes
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
