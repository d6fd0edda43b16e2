"""Parser throughput: tetherguard's parsers against MVT's on the same real captures.

For ``dumpsys appops`` and ``dumpsys package``, every real capture in ``../shared/android-samples``
(a bare dump, or the service's section of a concatenated dumpsys / bugreport) is enlarged by
repeating its uid (package) blocks to about ``--size`` MB, so that one parse takes long enough to
time; the header and the sections after the blocks are kept once. Both parsers get the very same
text: ours (``agent.parsers.appops.parse_dumpsys_appops``, ``agent.parsers.packages.
parse_dumpsys_package``) and MVT's artifact parsers (``DumpsysAppopsArtifact.parse``,
``DumpsysPackagesArtifact.parse``, as MVT's modules call them).

Prints, per capture and for all of them together (total bytes / total time): MB/s of each parser,
the ratio ours/MVT, and what each one produced, since equal speed on unequal work says little
(MVT's appops parser, for one, reads no access record in Android 9's per-state format).
Times are the best of ``--runs`` runs, with a garbage collection before each and the previous
result freed, parsers alternating.

Usage: python scripts/bench/parsers.py [--size 3] [--runs 5]
Needs MVT: pip install -e '.[bench]'
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[3] / "shared"
SAMPLES = SHARED / "android-samples"

APPOPS = [
    "appops-perms/fireos_kftrwi_a9_dumpsys_appops_full.txt",
    "appops-perms/mvt_samsung-a40_a10_dumpsys_appops.txt",
    "appops-perms/mvt_androidqf_samsung-a40_a10_dumpsys_multi.txt",
    "appops-perms/mvt_bugreport_samsung_dumpstate_excerpt.txt",
]
PACKAGE = [
    "appops-perms/fireos_kftrwi_a9_dumpsys_package_full.txt",
    "appops-perms/mvt_samsung-a40_a10_dumpsys_package_excerpt.txt",
    "appops-perms/mvt_androidqf_samsung-a40_a10_dumpsys_multi.txt",
    "packages/spytrap-adb_lineageos-a11/dumpsys_package_contacts.txt",
    "packages/spytrap-adb_lineageos-a11/dumpsys_package_fdroid.txt",
    "packages/spytrap-adb_lineageos-a11/dumpsys_package_gpstest.txt",
]


def section(text: str, service: str) -> str:
    """The text ``dumpsys <service>`` printed, when ``text`` is a concatenated dumpsys."""
    lines = text.split("\n")
    header = f"DUMP OF SERVICE {service}:"
    if header not in lines:
        return text
    start = lines.index(header) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("-----")), len(lines))
    return "\n".join(lines[start:end]) + "\n"


def enlarge(text: str, block: str, size: int) -> tuple[str, int]:
    """``text`` with the run of ``block`` blocks (``"  Uid "``, ``"  Package ["``) repeated to
    about ``size`` bytes, and the number of copies. The run ends at the first line, after its
    first block, that is less indented than a block or is another indent-2 line."""
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.startswith(block)), None)
    if first is None:
        return text, 1
    end = first + 1
    while end < len(lines):
        line = lines[end]
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and (indent < 2 or (indent == 2 and not line.startswith(block))):
            break
        end += 1
    head, body, tail = lines[:first], lines[first:end], lines[end:]
    copies = max(1, math.ceil(size / max(1, len("\n".join(body)))))
    return "\n".join(head + body * copies + tail), copies


@dataclass
class Row:
    name: str
    size: int
    ours_s: float
    mvt_s: float
    ours_made: str
    mvt_made: str


def best_of(runs: int, parsers: list[Callable[[], Any]]) -> list[float]:
    best = [math.inf] * len(parsers)
    for _ in range(runs):
        for i, parse in enumerate(parsers):
            gc.collect()
            started = time.perf_counter()
            result = parse()
            best[i] = min(best[i], time.perf_counter() - started)
            del result
    return best


def appops_made(result: Any) -> str:
    ops = [e for u in result.value.uids for pkg in u.packages.values() for e in pkg]
    return f"{len(ops)} ops, {sum(len(e.accesses) for e in ops)} accesses"


def mvt_appops_made(results: list[dict[str, Any]]) -> str:
    perms = [p for r in results for p in r["permissions"]]
    records = sum(1 for p in perms for e in p["entries"] if e["event"] in ("access", "reject"))
    return f"{len(perms)} ops, {records} accesses"


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(
        f"  {'capture':52s} {'MB':>5s} {'ours MB/s':>10s} {'MVT MB/s':>9s} {'ratio':>6s}  produced (ours | MVT)"
    )
    for r in rows:
        mb = r.size / 1e6
        print(
            f"  {r.name:52s} {mb:5.1f} {mb / r.ours_s:10.1f} {mb / r.mvt_s:9.1f} {r.mvt_s / r.ours_s:5.2f}x  {r.ours_made} | {r.mvt_made}"
        )
    total = sum(r.size for r in rows) / 1e6
    ours = sum(r.ours_s for r in rows)
    mvt = sum(r.mvt_s for r in rows)
    print(
        f"  {'all of the above':52s} {total:5.1f} {total / ours:10.1f} {total / mvt:9.1f} {mvt / ours:5.2f}x"
    )


def measure(
    name: str,
    text: str,
    ours: Callable[[str], Any],
    mvt_artifact: Callable[[], Any],
    runs: int,
    ours_made: Callable[[Any], str],
    mvt_made: Callable[[list[dict[str, Any]]], str],
) -> Row:
    def run_ours() -> Any:
        return ours(text)

    def run_mvt() -> list[dict[str, Any]]:
        artifact = mvt_artifact()
        artifact.parse(text)
        results: list[dict[str, Any]] = artifact.results
        return results

    ours_s, mvt_s = best_of(runs, [run_ours, run_mvt])
    return Row(
        Path(name).stem,
        len(text.encode()),
        ours_s,
        mvt_s,
        ours_made(run_ours()),
        mvt_made(run_mvt()),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=3.0, help="MB each capture is enlarged to")
    ap.add_argument("--runs", type=int, default=5, help="runs per parser and capture (best kept)")
    args = ap.parse_args()

    try:
        from mvt.android.artifacts.dumpsys_appops import (  # type: ignore[import-untyped]
            DumpsysAppopsArtifact,
        )
        from mvt.android.artifacts.dumpsys_packages import (  # type: ignore[import-untyped]
            DumpsysPackagesArtifact,
        )
    except ImportError as exc:
        print(f"MVT is not installed ({exc}); install the bench extra: pip install -e '.[bench]'")
        return 2
    if not SAMPLES.is_dir():
        print(
            f"real captures not found: {SAMPLES} (check out the shared folder next to this repository)"
        )
        return 2

    from agent.parsers.appops import parse_dumpsys_appops
    from agent.parsers.packages import parse_dumpsys_package

    size = int(args.size * 1e6)
    rows = [
        measure(
            name,
            enlarge(
                section((SAMPLES / name).read_text(errors="replace"), "appops"), "  Uid ", size
            )[0],
            parse_dumpsys_appops,
            DumpsysAppopsArtifact,
            args.runs,
            appops_made,
            mvt_appops_made,
        )
        for name in APPOPS
    ]
    print_table("dumpsys appops", rows)

    rows = [
        measure(
            name,
            enlarge(
                section((SAMPLES / name).read_text(errors="replace"), "package"),
                "  Package [",
                size,
            )[0],
            parse_dumpsys_package,
            DumpsysPackagesArtifact,
            args.runs,
            lambda result: f"{len(result.value.packages)} packages",
            lambda results: f"{len(results)} packages",
        )
        for name in PACKAGE
    ]
    print_table("dumpsys package", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
