"""The dashboard's HTML: one layout, the overview, a trader's page, the control pages.

Plain HTML and CSS written here (no template engine, no script): usable at 1280 px and on a
phone (tables scroll sideways, charts scale to the width). Every value is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import quote

from lightspeed_cli.views.dashboard import svg
from lightspeed_cli.views.dashboard.data import TraderPage

CSS = """
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#111;
background:#f6f7f9}header{background:#111827;color:#fff;padding:.6rem 1rem;display:flex;
flex-wrap:wrap;gap:.4rem 1rem;align-items:center}header a{color:#cbd5e1;text-decoration:none}
header a.on{color:#fff;font-weight:600}header .brand{font-weight:700;color:#fff}
main{max-width:1200px;margin:0 auto;padding:1rem}section{background:#fff;border:1px solid #e5e7eb;
border-radius:8px;padding:.8rem 1rem;margin:0 0 1rem}h1{font-size:1.3rem;margin:.2rem 0 1rem}
h2{font-size:1.05rem;margin:.1rem 0 .6rem}.grid{display:grid;gap:1rem;
grid-template-columns:repeat(auto-fit,minmax(300px,1fr))}.cards{display:grid;gap:.6rem;
grid-template-columns:repeat(auto-fit,minmax(160px,1fr))}.card{border:1px solid #e5e7eb;
border-radius:6px;padding:.5rem .7rem}.card b{display:block;font-size:1.25rem}
.card span{color:#555;font-size:.85rem}.card b{overflow-wrap:anywhere}.scroll{overflow-x:auto}
table{border-collapse:collapse;
width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eee;
white-space:nowrap}th{font-weight:600;color:#444}.bad{color:#b91c1c;font-weight:700}
.warn{color:#b45309}.ok{color:#15803d}svg.chart{width:100%;height:auto}
svg .grid{stroke:#e5e7eb}svg .tick{font-size:11px;fill:#555}svg .legend{font-size:12px;fill:#222}
svg .bar{fill:#2563eb}svg .loss{fill:#dc2626}svg .gain{fill:#16a34a}svg .total{fill:#475569}
.note{color:#555;font-size:.9rem}form{display:inline}button{font:inherit;padding:.45rem .9rem;
border-radius:6px;border:1px solid #999;background:#fff;cursor:pointer;margin:.2rem}
button.danger{border-color:#b91c1c;color:#b91c1c}
@media (max-width:600px){main{padding:.5rem}section{padding:.6rem}body{font-size:14px}}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _money(value: Decimal | float | None) -> str:
    return "-" if value is None else f"{Decimal(str(value)):+,.2f} USDT"


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"


def layout(title: str, body: str, *, traders: Sequence[str], here: str, control: bool) -> str:
    links = [("/", "Overview")] + [(f"/trader/{quote(t, safe='')}", t) for t in traders]
    if control:
        links.append(("/control", "Controls"))
    nav = "".join(
        f'<a href="{_e(href)}"{" class=on" if href == here else ""}>{_e(name)}</a>'
        for href, name in links
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        '<link rel=icon href="data:,">'
        f"<title>{_e(title)} · LightSpeed</title><style>{CSS}</style></head><body>"
        f"<header><span class=brand>LightSpeed</span>{nav}</header><main>"
        f"<h1>{_e(title)}</h1>{body}</main></body></html>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], id_: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f'<div class=scroll><table id="{id_}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def card(label: str, value: str, id_: str, cls: str = "") -> str:
    return f'<div class=card><span>{_e(label)}</span><b id="{id_}" class="{cls}">{value}</b></div>'


def _age(moment: str | None, now: datetime) -> str:
    if not moment:
        return "never"
    seconds = (now - datetime.fromisoformat(moment)).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def overview_body(data: dict[str, Any], target: dict[str, Any], opens: str, now: datetime) -> str:
    kill = data["kill_switch"]
    license_state = str(data["license"].get("state", ""))
    # the card says the verdict ("valid", "CLOSING ONLY"); the reason goes below the cards
    verdict, _, why = license_state.partition(": ")
    cards = "".join(
        [
            card("network", _e(target["network"]), "network"),
            card("mode", _e(target["mode"]), "mode", "warn" if target["mode"] == "live" else ""),
            card(
                "license",
                _e(verdict),
                "license",
                "" if data["license"].get("can_open", True) else "bad",
            ),
            card("today's realized PnL", _e(_money(data["realized_pnl_usdt"])), "pnl-today"),
            card(
                "kill switch",
                "ON" if kill["on"] else "off",
                "kill-switch",
                "bad" if kill["on"] else "ok",
            ),
            card("opens", _e(opens), "opens"),
            card("fills today", _e(data["fills"]), "fills-today"),
        ]
    )
    traders = table(
        ["trader", "label", "last good read", "state", "reason"],
        (
            [
                f'<a href="/trader/{quote(t["id"], safe="")}">{_e(t["id"])}</a>',
                _e(t["label"]),
                _e(_age(t["last_ok_at"], now)),
                "<span class=bad>BLIND</span>"
                if t["blind"]
                else f"<span class=ok>{_e(t['status'] or '-')}</span>",
                _e(t["reason"]),
            ]
            for t in data["traders"]
        ),
        "traders",
    )
    positions = table(
        ["trader", "symbol", "side", "quantity", "entry", "since"],
        (
            [
                _e(p["trader"]),
                _e(p["symbol"]),
                _e(p["side"]),
                _e(p["quantity"]),
                _e(p["entry_price"]),
                _e(f"{p['opened_at']:%Y-%m-%d %H:%M}"),
            ]
            for p in data["positions"]
        ),
        "positions",
    )
    events = table(
        ["at (UTC)", "level", "message"],
        (
            [
                _e(e["at"][:19].replace("T", " ")),
                f'<span class="{"bad" if e["level"] == "error" else ""}">{_e(e["level"])}</span>',
                _e(e["message"]),
            ]
            for e in data["events"]
        ),
        "events",
    )
    return (
        f"<section><div class=cards>{cards}</div>"
        + (f"<p class=note id=license-detail>License: {_e(why)}</p>" if why else "")
        + f"<p class=note>Kill switch: daily loss limit {_e(kill['daily_loss_limit_usdt'])} USDT"
        f" (UTC day {_e(data['day'])}).</p></section>"
        f"<section><h2>Traders</h2>{traders}</section>"
        f"<section><h2>Open mirrored positions</h2>{positions}</section>"
        f"<section><h2>Last events</h2>{events}</section>"
    )


def no_journal_body(path: str) -> str:
    return f"<section><p>No journal yet at {_e(path)}: nothing has run here.</p></section>"


def _ts(points: Sequence[Any]) -> tuple[str, str]:
    if not points:
        return "", ""
    return f"{points[0].at:%m-%d %H:%M}", f"{points[-1].at:%m-%d %H:%M}"


def trader_body(page: TraderPage) -> str:
    edge = page.edge
    ratio = f"{page.ratio:g}" + ("" if page.ratio_configured else " (estimated from the orders)")
    cards = "".join(
        [
            card("edge kept", _pct(edge.edge_kept), "edge-kept"),
            card("leader x ratio (realized)", _e(_money(edge.ideal)), "ideal-pnl"),
            card("follower (realized, after fees)", _e(_money(edge.follower)), "follower-pnl"),
            card("intended ratio", _e(ratio), "ratio"),
            card("changes", _e(edge.changes), "changes"),
        ]
    )
    pnl = svg.line_chart(
        [
            svg.Series(
                "leader x ratio", [(p.at.timestamp(), float(p.leader_x_ratio)) for p in page.points]
            ),
            svg.Series("follower", [(p.at.timestamp(), float(p.follower)) for p in page.points]),
        ],
        "leader vs follower realized PnL (USDT)",
        _ts(page.points),
    )
    parts = table(
        ["where", "USDT"],
        ([_e(k), f'<span data-part="{_e(k)}">{v:+.2f}</span>'] for k, v in edge.parts().items()),
        "edge-parts",
    )
    water = svg.waterfall(
        ("leader x ratio", float(edge.ideal)),
        [(k, float(v)) for k, v in edge.parts().items()],
        "follower",
    )
    exposure = svg.line_chart(
        [
            svg.Series(
                "exposure error",
                [(p.at.timestamp(), float(p.exposure_error_usdt)) for p in page.points],
            )
        ],
        "exposure error (USDT)",
        _ts(page.points),
    )
    outcomes = ", ".join(f"{_e(k)} {v}" for k, v in sorted(page.outcomes.items())) or "none"
    unpriced = (
        f" {page.unpriced} change(s) without a known leader price are left out."
        if page.unpriced
        else ""
    )
    return (
        f"<section><div class=cards>{cards}</div><p class=note>Edge kept = the follower's"
        " realized PnL / (the leader's over the same changes x the ratio). Realized only: what is"
        f" still open counts nowhere. Changes: {outcomes}.{unpriced}</p></section>"
        f"<section><h2>Leader vs follower PnL</h2>{pnl}</section>"
        f"<div class=grid><section><h2>Where the edge went</h2>{water}{parts}</section>"
        f"<section><h2>Exposure error over time</h2>{exposure}</section></div>"
        f"<div class=grid><section><h2>Detection latency</h2>"
        f"{svg.histogram(page.latency_ms, 'detection latency', 'ms')}</section>"
        f"<section><h2>Slippage</h2>{svg.histogram(page.slippage_bps, 'slippage', 'bps')}"
        "</section></div>"
    )


COMMANDS = {
    "pause": "Pause opens (closes and reduces still mirror)",
    "resume": "Resume opens",
    "close-all": "Close every position the bot holds (market orders) and pause opens",
}


def control_body(opens: str) -> str:
    buttons = "".join(
        f'<form method=get action="/control/{c}">'
        f'<button class="{"danger" if c == "close-all" else ""}" id="ask-{c}">{_e(c)}</button>'
        "</form>"
        for c in COMMANDS
    )
    return f"<section><p id=opens>Opens: {_e(opens)}</p>{buttons}</section>"


def confirm_body(command: str) -> str:
    return (
        f"<section><p id=question>{_e(COMMANDS[command])}?</p>"
        f'<form method=post action="/control/{command}"><input type=hidden name=confirm'
        f' value="{command}"><button class=danger id=confirm>Yes, {_e(command)}</button></form>'
        '<form method=get action="/control"><button id=cancel>Cancel</button></form></section>'
    )


def result_body(ok: bool, text: str) -> str:
    cls = "ok" if ok else "bad"
    return (
        f'<section><p id=result class="{cls}">{_e(text)}</p><a href="/control">back</a></section>'
    )


def message_page(title: str, text: str) -> str:
    return layout(
        title,
        f"<section><p id=message>{_e(text)}</p></section>",
        traders=(),
        here="",
        control=False,
    )
