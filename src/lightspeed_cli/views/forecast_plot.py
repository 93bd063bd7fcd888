"""`lightspeed traders forecast --plot`: the leader's and the follower's cumulative PnL, and the
follower's exposure against what the sizing intended, over the replayed window.

matplotlib is the optional `plot` extra, loaded the way `simulate --plot` does (views/plotting.py).
"""

from __future__ import annotations

from pathlib import Path

from lightspeed_cli.decisions.forecast import ForecastReport
from lightspeed_cli.views.plotting import require_matplotlib

LEADER = {"color": "#1f77b4", "lw": 2.2, "alpha": 0.55}
FOLLOWER = {"color": "#d62728", "lw": 1.4}


def plot_problem(path: Path) -> str | None:
    """Why `--plot PATH` cannot be written, asked before minutes of reading (None: fine).
    matplotlib picks the format from the suffix and raises on one it does not know."""
    require_matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if path.suffix.lower().lstrip(".") not in formats:
        return f"--plot {path}: the file name must end in one of .{', .'.join(formats)}"
    if not path.parent.is_dir():
        return f"--plot {path}: no folder {path.parent}"
    return None


def plot_forecast(report: ForecastReport, path: Path) -> None:
    """Write the PNG. Raises views.plotting.PlotUnavailable without matplotlib."""
    plt = require_matplotlib()
    points = report.series
    times = [p.time for p in points]
    fig, (pnl, exposure) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    leader = pnl.twinx()  # the leader's account is another size: its own scale
    lines = (
        (pnl, "follower_pnl_usdt", FOLLOWER, "follower net PnL (USDT, left)"),
        (leader, "leader_pnl_usdt", LEADER, "leader realized PnL (USDT, right)"),
        (exposure, "intended_notional_usdt", LEADER, "intended (leader × sizing)"),
        (exposure, "follower_notional_usdt", FOLLOWER, "follower"),
    )
    for ax, name, style, label in lines:
        values = [float(getattr(p, name)) for p in points]
        ax.step(times, values, where="post", label=label, **style)
    pnl.set_ylabel("follower USDT", fontsize=8)
    leader.set_ylabel("leader USDT", fontsize=8)
    exposure.set_ylabel("open notional (USDT)", fontsize=8)
    handles, labels = pnl.get_legend_handles_labels()
    more = leader.get_legend_handles_labels()
    pnl.legend(handles + more[0], labels + more[1], fontsize=8, loc="upper left")
    exposure.legend(fontsize=8, loc="upper left")
    pnl.axhline(0, color="#999999", lw=0.6)
    for ax in (pnl, exposure):
        ax.grid(alpha=0.25)
    mean = report.exposure_error_mean_pct
    fig.suptitle(
        f"LightSpeed forecast {report.trader}: {report.copied} copied, {report.refused} refused,"
        f" {report.not_followed} not followed of {report.leader_changes} changes;"
        f" exposure error mean {'n/a' if mean is None else f'{mean:.1f} %'}",
        fontsize=10,
    )
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
