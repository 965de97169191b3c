"""Timing sidecars and the process clock behind them."""

import time
from pathlib import Path

import pytest

from neuradmix import layout
from neuradmix.data.timing import Timing, read_timing, write_timing
from neuradmix.errors import InputError
from neuradmix.runtime import process_seconds


def test_timing_round_trip_and_names(tmp_path):
    timing = Timing("train", "neural", "2,3,4", 1.25, 4.5, 2, "cpu (test)")
    path = Path(layout.timing(tmp_path, "train"))
    assert path.name == "train.timing.tsv"
    assert Path(layout.timing(tmp_path, "x", 3)).name == "x.3.timing.tsv"
    write_timing(path, timing)
    back = read_timing(path)
    assert back == timing and back.k_values == [2, 3, 4]
    path.write_text("command\tks\nem\t3\n")
    with pytest.raises(InputError, match="not a timing file"):
        read_timing(path)


def test_process_clock_counts_from_process_start():
    first = process_seconds()
    time.sleep(0.05)
    assert process_seconds() >= first + 0.04
    # The interpreter and the test session started before this test did.
    assert first > 0.1
