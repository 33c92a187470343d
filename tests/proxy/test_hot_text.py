"""The optimised binary's hot text (cmake/Remora.cmake, "Hot text").

src/cli/hot_text.order lists the functions the proxy's worker runs on every
request, then the other functions the sidecar ran at all; lld lays them
out in that order. These tests hold the hot tier to the binary: a function
renamed or gone leaves the list silently shorter (lld is told not to warn,
for the warm tier's sake), and a link without the order scatters them again.
The warm tier only has to keep most of its functions together.
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


WARM_MARKER = "# warm: "


def listed(tier="hot"):
    """The symbols of one tier of the list: the hot ones (before the warm
    marker), or the warm ones after it."""
    text = ORDER.read_text()
    hot, marker, warm = text.partition(WARM_MARKER)
    assert marker, f"{ORDER} has no line starting {WARM_MARKER!r}; make it again: {REGENERATE}"
    lines = (line.strip() for line in (hot if tier == "hot" else warm.split("\n", 1)[1]).splitlines())
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


def text_section():
    """(start, end) of the binary's .text section."""
    out = subprocess.run(["readelf", "-SW", os.environ["REMORA_BIN"]], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) > 5 and fields[1] == ".text":
            return int(fields[3], 16), int(fields[3], 16) + int(fields[5], 16)
    raise AssertionError(f"no .text section in {os.environ['REMORA_BIN']}:\n{out}")


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


def test_the_code_a_sidecar_runs_lies_together():
    """The warm tier follows the hot one: together they span little more
    than their own bytes (fault-around then maps a few hundred KiB of the
    binary for them, not most of its text)."""
    symbols = defined_text()
    start, end = text_section()
    # g++'s cold clones (.text.unlikely) and start-up code (.text.startup)
    # the linker keeps in sections of their own, already apart.
    ran = sorted({symbols[name] for name in listed("hot") + listed("warm")
                  if name in symbols and start <= symbols[name][0] < end})
    assert len(ran) > 300, f"only {len(ran)} of the listed functions found"
    span = ran[-1][0] + ran[-1][1] - ran[0][0]
    own = sum(size for _, size in ran)
    assert span <= own * MOST_SPAN_RATIO, (
        f"the {len(ran)} functions the sidecar ran span {span} bytes of text, more than "
        f"{MOST_SPAN_RATIO} times their own {own}")
