"""Rich renderings of a simulation: what the leaders did, what Bybit got, and the figures."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from lightspeed_cli.sim.report import ChangeRow, FidelityReport
from lightspeed_cli.sim.scenario import Scenario, leader_changes


def num(value: Decimal | float | None, places: int | None = None) -> str:
    """A number without exponent or trailing zeros ("-" for None)."""
    if value is None:
        return "-"
    if places is not None:
        return f"{value:.{places}f}"
    d = value if isinstance(value, Decimal) else Decimal(repr(value))
    return format(d.normalize(), "f")


def intro(scenario: Scenario, seconds: float) -> Text:
    traders = ", ".join(
        t.label
        + (" in hedge mode" if t.hedge else "")
        + (f" at ratio {num(t.ratio)}" if t.ratio else "")
        for t in scenario.traders
    )
    return Text.from_markup(
        f"[bold]LightSpeed simulate[/]: the real bot against a fake Binance and a fake Bybit on"
        f" 127.0.0.1 (no keys, no network) for {seconds:g} s.\n"
        f"{len(scenario.traders)} lead portfolios ({traders}) make"
        f" {len(leader_changes(scenario))} changes in {len(scenario.steps)} steps;"
        f" the follower copies at ratio {num(scenario.ratio)} on a hedge-mode Bybit account.\n"
    )


def _change_text(r: ChangeRow) -> str:
    sizes = f"{num(r.previous_size)} → {num(r.new_size)}"
    return f"{r.kind.value} {r.side.value} {r.symbol} {sizes}"


def _order_text(r: ChangeRow) -> str:
    if r.order_qty is None:
        return "-"
    renamed = f" {r.bybit_symbol}" if r.bybit_symbol != r.symbol else ""
    return f"{r.order_side} {num(r.order_qty)}{renamed} @ {num(r.fill_price)}"


def _result_text(r: ChangeRow) -> str:
    if r.outcome == "mirrored" and r.as_expected:
        return "[green]mirrored[/]"
    if r.as_expected:
        return f"[yellow]{r.outcome}[/] (as expected)"
    if r.expected == "refuse":
        return f"[red]NOT REFUSED[/] ({r.outcome})"
    return f"[red]MISSED[/] ({r.outcome})"


def _exposure_text(r: ChangeRow) -> str:
    if r.target_qty is None:
        return "-"
    err = r.error_steps or Decimal(0)
    style = "green" if abs(err) <= 1 else "red"
    return f"[{style}]{num(r.follower_qty)} / {num(r.target_qty)}[/]"


def changes_table(report: FidelityReport) -> Table:
    table = Table(title="What the leaders did, and what the follower's Bybit account got")
    for col, justify in (
        ("t (s)", "right"),
        ("trader", "left"),
        ("leader change", "left"),
        ("Bybit order", "left"),
        ("follower / target", "right"),
        ("result", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in report.changes:
        table.add_row(
            num(r.t, 1) if r.t is not None else "-",
            r.label,
            _change_text(r),
            _order_text(r),
            _exposure_text(r),
            _result_text(r),
        )
    return table


def refusals_table(report: FidelityReport) -> Table | None:
    """Every change that was not mirrored, and the reason the journal gives."""
    rows = [r for r in report.changes if r.outcome != "mirrored"]
    if not rows:
        return None
    table = Table(title="Not mirrored, and why (from the journal)")
    for col in ("t (s)", "trader", "leader change", "reason"):
        table.add_column(col)
    for r in rows:
        style = "yellow" if r.as_expected else "red"
        table.add_row(
            num(r.t, 1) if r.t is not None else "-",
            r.label,
            _change_text(r),
            f"[{style}]{r.outcome}[/]: {escape(r.reason)}",
        )
    return table


def positions_table(report: FidelityReport) -> Table:
    table = Table(title="Follower positions at the end (Bybit) vs expected (leaders x ratio)")
    for col in ("Bybit symbol", "side", "follower", "expected", "error (steps)"):
        table.add_column(col, justify="left" if col in ("Bybit symbol", "side") else "right")
    for p in report.positions:
        style = "green" if abs(p.error_steps) <= 1 else "red"
        table.add_row(
            p.bybit_symbol,
            p.side.value,
            num(p.follower_qty),
            num(p.expected_qty),
            f"[{style}]{num(p.error_steps, 2)}[/]",
        )
    return table


def extra_table(report: FidelityReport) -> Table | None:
    extra = [o for o in report.orders if not o.matched]
    if not extra:
        return None
    table = Table(title="[red]Extra orders[/] (in Bybit's log, for no leader change)")
    for col in ("t (s)", "orderLinkId", "order", "why"):
        table.add_column(col)
    for o in extra:
        order = f"{o.order_side} {num(o.filled_qty)} {o.bybit_symbol} @ {num(o.price)}"
        table.add_row(num(o.t, 1), escape(o.client_order_id), order, escape(o.note))
    return table


def summary(report: FidelityReport) -> Group:
    parts: list[Table | Text] = [changes_table(report)]
    parts += [t for t in (refusals_table(report), extra_table(report)) if t is not None]
    parts.append(positions_table(report))
    for note in report.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    return Group(*parts)


def fidelity(report: FidelityReport) -> Table:
    """The figures: counts, exposure error, latency against its floor, slippage."""
    lat, slip = report.latency, report.slippage
    ratios = [r.follower_ratio / r.ratio for r in report.changes if r.follower_ratio is not None]
    table = Table(title="Copy fidelity", show_header=False)
    table.add_column("figure")
    table.add_column("value")
    table.add_row(
        "leader changes",
        f"{report.leader_changes}: {report.mirrored} mirrored, {report.refused} refused as"
        f" expected, {report.missed} missed; {report.extra} extra",
    )
    table.add_row(
        "Bybit order log",
        f"{report.bybit_orders} orders (= {report.mirrored} mirrored + {report.extra} extra),"
        f" {report.bybit_rejections} rejected",
    )
    table.add_row(
        "exposure error",
        f"max {num(report.max_abs_error_steps, 2)} quantity steps (after every change and at"
        " the end; target ≤ 1)",
    )
    if ratios:
        table.add_row(
            "follower / leader vs ratio",
            f"{num(min(ratios), 4)} .. {num(max(ratios), 4)} × the configured ratio",
        )
    table.add_row(
        "detection latency",
        f"median {num(lat.median_ms, 0)} ms, p99 {num(lat.p99_ms, 0)} ms, worst"
        f" {num(lat.worst_ms, 0)} ms (leader's change → order sent, {lat.samples} orders)",
    )
    table.add_row(
        "  order on Bybit",
        f"median {num(lat.on_bybit_median_ms, 0)} ms, p99 {num(lat.on_bybit_p99_ms, 0)} ms"
        " (leader's change → the order exists on Bybit: the figure the floor bounds)",
    )
    pushed = lat.poll_interval_ms == 0  # Hyperliquid wallets: no poll, a one-way push
    leader = (
        f"push one way {num(lat.binance_rtt_ms, 1)} ms"
        if pushed
        else f"poll {num(lat.poll_interval_ms, 0)} ms / 2 + Binance RTT"
        f" {num(lat.binance_rtt_ms, 1)} ms"
    )
    table.add_row(
        "  floor",
        f"{num(lat.floor_ms, 0)} ms = {leader} + own work {num(lat.own_work_ms, 1)} ms"
        f" + Bybit RTT {num(lat.bybit_rtt_ms, 1)} ms; p99 target ≤ {num(lat.p99_target_ms, 0)} ms"
        " (one poll + both RTTs + 20 ms)",
    )
    table.add_row(
        "  bot's own work",
        f"median {num(lat.bot_median_ms, 1)} ms, p99 {num(lat.bot_p99_ms, 1)} ms"
        " (snapshot received → order sent, Bybit round trips before it included)",
    )
    if lat.round_trips_median is not None:
        table.add_row(
            "  Bybit round trips before the order",
            f"median {num(lat.round_trips_median, 1)}, max {lat.round_trips_max};"
            f" {lat.orders_without_round_trips} of {lat.round_trip_orders} orders with none"
            " (price from the cache, leverage set ahead of time)",
        )
    table.add_row(
        "Hyperliquid reads" if pushed else "Binance polls",
        f"busiest second {lat.busiest_second} polls, {lat.busiest_second_all} requests in all"
        f" (budget {num(lat.budget_per_second, 0)}/s)",
    )
    if lat.leader_samples:
        table.add_row(
            "  from the leader's order",
            f"median {num(lat.leader_median_ms, 0)} ms, p99 {num(lat.leader_p99_ms, 0)} ms"
            f" (the leader's orderUpdateTime → order sent, {lat.leader_samples} orders)",
        )
    table.add_row(
        "slippage",
        f"median {num(slip.median_bps, 2)} bps, worst {num(slip.worst_bps, 2)} bps, best"
        f" {num(slip.best_bps, 2)} bps ({slip.samples} fills; positive = worse than the leader;"
        f" {slip.leader_fill_samples} against the leader's own fill price, the rest against"
        " the leader's snapshot)",
    )
    table.add_row(
        "run",
        f"{report.seconds:g} s, poll every {report.poll_interval_s:g} s, a step every"
        f" {report.step_spacing_s:g} s",
    )
    return table


def verdict(report: FidelityReport, engine_exit_code: int = 0) -> Panel:
    counts = (
        f"{report.leader_changes} leader changes: {report.mirrored} mirrored,"
        f" {report.refused} refused as expected, {report.missed} missed, {report.extra} extra;"
        f" max exposure error {num(report.max_abs_error_steps, 2)} steps"
    )
    if engine_exit_code != 0:
        return Panel(f"[red]the bot stopped with exit code {engine_exit_code}[/]\n{counts}")
    if report.exact:
        return Panel(f"[bold green]EXACT[/]: {counts}", border_style="green")
    return Panel(f"[bold red]NOT EXACT[/]: {counts}", border_style="red")
