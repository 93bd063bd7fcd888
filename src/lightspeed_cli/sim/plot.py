"""`lightspeed simulate --plot`: leader x ratio vs follower exposure over time, one panel a symbol.

matplotlib is an optional extra (`pipx inject lightspeed-cli matplotlib`), imported only here.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from lightspeed_cli.models import Side
from lightspeed_cli.sim.report import FidelityReport
from lightspeed_cli.views.plotting import require_matplotlib


def _sign(side: Side) -> Decimal:
    return Decimal(1) if side is Side.LONG else Decimal(-1)


Series = list[tuple[float, float]]


def exposure_series(report: FidelityReport) -> tuple[dict[str, Series], dict[str, Series]]:
    """Per Binance symbol: (leader x ratio, follower) net signed exposure over time.

    Units are Bybit contracts for mapped symbols (leader x ratio x qty_scale), and leader
    units x ratio for a symbol Bybit does not list (the follower stays at 0 there).
    """
    leader: dict[str, Series] = defaultdict(lambda: [(0.0, 0.0)])
    follower: dict[str, Series] = defaultdict(lambda: [(0.0, 0.0)])
    targets: dict[tuple[str, str, Side], Decimal] = {}
    bybit_to_binance = {r.bybit_symbol: r.symbol for r in report.changes if r.bybit_symbol}
    steps: dict[int, list[Any]] = defaultdict(list)
    for r in report.changes:
        steps[r.step].append(r)
    for step in sorted(steps):  # one point per step: its traders moved within microseconds
        rows = steps[step]
        played = [r.t for r in rows if r.t is not None]
        if not played:
            continue  # the run stopped before this step
        t = min(played)
        for r in rows:
            target = r.target_qty if r.target_qty is not None else r.new_size * r.ratio
            targets[(r.trader, r.symbol, r.side)] = target * _sign(r.side)
        for symbol in dict.fromkeys(r.symbol for r in rows):
            net = sum((v for (_, s, _), v in targets.items() if s == symbol), Decimal(0))
            leader[symbol].append((t, float(net)))
    nets: dict[str, Decimal] = defaultdict(Decimal)
    for o in sorted(report.orders, key=lambda o: o.t):
        symbol = o.symbol or bybit_to_binance.get(o.bybit_symbol, o.bybit_symbol)
        side = o.side or (Side.LONG if (o.order_side == "Buy") != o.reduce_only else Side.SHORT)
        delta = -o.filled_qty if o.reduce_only else o.filled_qty
        nets[symbol] += delta * _sign(side)
        follower[symbol].append((o.t, float(nets[symbol])))
    for symbol in leader:
        follower[symbol]  # every leader panel gets a follower line, flat at 0 if never traded
    return dict(leader), dict(follower)


def plot_exposure(report: FidelityReport, path: Path) -> None:
    """Write the PNG. Raises PlotUnavailable without matplotlib."""
    plt = require_matplotlib()
    leader, follower = exposure_series(report)
    names = {r.symbol: r.bybit_symbol for r in report.changes}
    symbols = sorted(leader)
    cols = 2
    rows = (len(symbols) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.9 * rows), squeeze=False, sharex=True)
    end = report.seconds
    for ax, symbol in zip(axes.flat, symbols, strict=False):
        lx, ly = zip(*(leader[symbol] + [(end, leader[symbol][-1][1])]), strict=True)
        fx, fy = zip(*(follower[symbol] + [(end, follower[symbol][-1][1])]), strict=True)
        ax.step(lx, ly, where="post", color="#1f77b4", lw=2.2, alpha=0.55, label="leader × ratio")
        ax.step(fx, fy, where="post", color="#d62728", lw=1.2, label="follower (Bybit fills)")
        ax.axhline(0, color="#999999", lw=0.6)
        bybit = names.get(symbol)
        if bybit is None:
            title = f"{symbol}: no Bybit market, refused (nothing sent)"
            unit = "leader units × ratio"
        else:
            title = symbol if bybit == symbol else f"{symbol} → Bybit {bybit}"
            unit = "net contracts"
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.25)
    for ax in list(axes.flat)[len(symbols) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("seconds since start", fontsize=8)
    axes.flat[0].legend(fontsize=8, loc="best")
    err = report.max_abs_error_steps
    fig.suptitle(
        f"LightSpeed simulate: leader × ratio vs follower exposure (long +, short −)\n"
        f"{report.leader_changes} leader changes, {report.mirrored} mirrored,"
        f" {report.refused} refused as expected, {report.missed} missed, {report.extra} extra;"
        f" max error {err if err is None else f'{err:.2f}'} steps",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
