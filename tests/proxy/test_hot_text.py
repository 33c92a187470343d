"""The optimised binary's hot text (cmake/Remora.cmake, "Hot text").

src/cli/hot_text.order lists the functions the proxy's worker runs on every
request; lld lays them side by side. These tests hold the list to the
binary: a function renamed or gone leaves the list silently shorter (lld
only warns), and a link without the order scatters them again.
"""

import os
import subprocess
from pathlib import Path

ORDER = Path(__file__).resolve().parents[2] / "src" / "cli" / "hot_text.order"
REGENERATE = ("bench/instructions_bench.py --setups remora "
              "--write-order src/cli/hot_text.order")
# How much more than their own bytes the hot functions may span: padding
# (g++ -O2 starts a function on a 16-byte boundary) and, from the static
# libstdc++, the neighbours of a hot function in an object that was not
# compiled a function a section (string-inst.o: about 10 KiB here). Linked
# without the order they span most of the 3.4 MB of text.
MOST_SPAN_RATIO = 1.5


def listed():
    lines = (line.strip() for line in ORDER.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def defined_text():
    """{symbol: (address, size)} of the binary's code symbols."""
    out = subprocess.run(["nm", "--defined-only", "--print-size", os.environ["REMORA_BIN"]],
                         check=True, capture_output=True, text=True).stdout
    symbols = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2] in "tTwW":
            symbols[fields[3]] = (int(fields[0], 16), int(fields[1], 16))
    return symbols


def test_every_listed_function_is_in_the_binary():
    symbols = defined_text()
    missing = [name for name in listed() if name not in symbols]
    assert not missing, (f"{len(missing)} of the hot functions in {ORDER} are not in the "
                         f"binary (renamed or gone?); make the list again: {REGENERATE}\n"
                         + "\n".join(missing))


def test_the_hot_functions_lie_together():
    symbols = defined_text()
    hot = sorted({symbols[name] for name in listed() if name in symbols})
    assert len(hot) > 50, f"only {len(hot)} hot functions found"
    span = hot[-1][0] + hot[-1][1] - hot[0][0]
    own = sum(size for _, size in hot)
    assert span <= own * MOST_SPAN_RATIO, (
        f"the {len(hot)} hot functions span {span} bytes of text, more than "
        f"{MOST_SPAN_RATIO} times their own {own}: was build/remora linked without its "
        "--symbol-ordering-file (ld.lld, scripts/install-deps.sh)?")
