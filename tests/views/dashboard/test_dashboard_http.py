"""The dashboard's gates and /metrics over HTTP (starlette's TestClient: the app in-process, a
real HTTP client): no token 401, another host 403 unless bound to it, the cookie trade, bearer
tokens, the read token never steers, and /metrics read back by prometheus-client's own parser."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import Any

import pytest
from dashboard_rig import TRADER
from prometheus_client.parser import text_string_to_metric_families

from lightspeed_cli.config.settings import load_settings
from lightspeed_cli.views.dashboard.app import COOKIE, DashboardContext, create_app
from lightspeed_cli.views.dashboard.tokens import (
    CONTROL_TOKEN_FILE,
    READ_TOKEN_FILE,
    Role,
    load_tokens,
)

with warnings.catch_warnings():  # "Using `httpx` with `starlette.testclient` is deprecated"
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _app(where: Path, host: str = "127.0.0.1", control: bool = True) -> tuple[TestClient, Any]:
    settings = load_settings(where / "config.toml")
    loaded = load_tokens(where / "data", control=control)
    acted: list[str] = []

    async def act(command: str) -> tuple[bool, str]:
        acted.append(command)
        return True, f"did {command}"

    ctx = DashboardContext(
        settings=settings,
        paper=False,
        journal_path=where / "data" / "journal.sqlite3",
        tokens=loaded.tokens,
        host=host,
        license_info=lambda: {"can_open": True, "state": "valid"},
        opens=lambda: "opens allowed",
        act=act if control else None,
    )
    client = TestClient(create_app(ctx), base_url="http://127.0.0.1:8765", client=("127.0.0.1", 5))
    client.acted = acted  # type: ignore[attr-defined]
    return client, loaded.tokens


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_random_private_files_kept_across_starts(hand_dir: Path) -> None:
    first = load_tokens(hand_dir / "data", control=True)
    assert set(first.new) == {Role.READ, Role.CONTROL}
    for name in (READ_TOKEN_FILE, CONTROL_TOKEN_FILE):
        assert stat.S_IMODE(os.stat(hand_dir / "data" / name).st_mode) == 0o600
    again = load_tokens(hand_dir / "data", control=True)
    assert again.tokens == first.tokens and again.new == []
    assert first.tokens.read != first.tokens.control and len(first.tokens.read) >= 40
    renewed = load_tokens(hand_dir / "data", control=True, renew=True)
    assert renewed.tokens.read != first.tokens.read


@pytest.mark.parametrize("path", ["/", f"/trader/{TRADER}", "/metrics", "/control"])
def test_no_token_or_a_wrong_one_is_401(hand_dir: Path, path: str) -> None:
    client, tokens = _app(hand_dir)
    assert client.get(path).status_code == 401
    assert client.get(path, headers=_bearer("x" + tokens.read)).status_code == 401
    assert client.get(path, params={"token": tokens.read[:-1]}).status_code == 401
    assert client.get(path, headers=_bearer(tokens.read)).status_code in (200, 403)


def test_the_url_token_is_traded_for_a_cookie(hand_dir: Path) -> None:
    client, tokens = _app(hand_dir)
    first = client.get("/", params={"token": tokens.read}, follow_redirects=False)
    assert first.status_code == 303 and "token" not in first.headers["location"]
    assert "httponly" in first.headers["set-cookie"].lower()
    assert "samesite=strict" in first.headers["set-cookie"].lower()
    assert client.cookies.get(COOKIE) == tokens.read
    page = client.get("/")
    assert page.status_code == 200 and tokens.read not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_another_host_is_refused_unless_bound_to_it(hand_dir: Path) -> None:
    client, tokens = _app(hand_dir)
    remote = TestClient(client.app, base_url="http://127.0.0.1:8765", client=("192.0.2.7", 5))
    assert remote.get("/", headers=_bearer(tokens.read)).status_code == 403
    rebound = client.get("/", headers={**_bearer(tokens.read), "Host": "evil.example:8765"})
    assert rebound.status_code == 403  # DNS rebinding: a foreign name for 127.0.0.1
    open_client, tokens = _app(hand_dir, host="0.0.0.0")
    remote = TestClient(
        open_client.app, base_url="http://203.0.113.5:8765", client=("192.0.2.7", 5)
    )
    assert remote.get("/").status_code == 401  # still the token
    assert remote.get("/", headers=_bearer(tokens.read)).status_code == 200


def test_controls_refused_with_the_read_token_and_without_confirmation(hand_dir: Path) -> None:
    client, tokens = _app(hand_dir)
    read, control = _bearer(tokens.read), _bearer(tokens.control)
    for command in ("pause", "resume", "close-all"):
        answer = client.post(f"/control/{command}", data={"confirm": command}, headers=read)
        assert answer.status_code == 403
        assert client.post(f"/control/{command}", headers=control).status_code == 400
        wrong = client.post(f"/control/{command}", data={"confirm": "pause!"}, headers=control)
        assert wrong.status_code == 400
        foreign = {**control, "Origin": "http://evil.example"}
        crossed = client.post(f"/control/{command}", data={"confirm": command}, headers=foreign)
        assert crossed.status_code == 403
    assert client.acted == []  # type: ignore[attr-defined]
    done = client.post("/control/close-all", data={"confirm": "close-all"}, headers=control)
    assert done.status_code == 200 and "did close-all" in done.text
    assert client.acted == ["close-all"]  # type: ignore[attr-defined]


def test_a_read_only_dashboard_has_no_controls_at_all(hand_dir: Path) -> None:
    client, tokens = _app(hand_dir, control=False)
    answer = client.get("/control", headers=_bearer(tokens.read))
    assert answer.status_code == 403 and "read-only" in answer.text


def test_metrics_parse_with_prometheus_clients_own_parser(hand_dir: Path) -> None:
    client, tokens = _app(hand_dir)
    answer = client.get("/metrics", headers=_bearer(tokens.read))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("lightspeed_blind_traders", ())] == 0
    assert samples[("lightspeed_trader_blind", (("trader", TRADER),))] == 0
    assert samples[("lightspeed_orders_total", (("outcome", "executed"),))] == 5
    assert samples[("lightspeed_orders_total", (("outcome", "refused"),))] == 1
    assert samples[("lightspeed_orders_total", (("outcome", "failed"),))] == 1
    assert families["lightspeed_detection_latency_ms"].type == "histogram"
    assert samples[("lightspeed_detection_latency_ms_count", ())] == 5
    assert samples[("lightspeed_detection_latency_ms_bucket", (("le", "250.0"),))] == 5
    # negative buckets: the format then has no _count / _sum, +Inf is the count
    assert samples[("lightspeed_slippage_bps_bucket", (("le", "+Inf"),))] == 5
    assert (
        samples[("lightspeed_slippage_bps_bucket", (("le", "0.0"),))] == 1
    )  # XRP's open, at the leader's price
    assert samples[("lightspeed_alerts_total", (("level", "warning"),))] == 1
    assert samples[("lightspeed_open_positions", ())] == 1  # XRP, its close failed
    assert ("lightspeed_trader_last_poll_timestamp_seconds", (("trader", TRADER),)) in samples


def test_a_trader_never_read_is_blind_on_the_overview_and_in_metrics(hand_dir: Path) -> None:
    quiet = "4000000000000000888"
    with (hand_dir / "config.toml").open("a", encoding="utf-8") as config:
        config.write(f"\n[[traders]]\nid = '{quiet}'\nlabel = 'quiet'\n")
    client, tokens = _app(hand_dir)
    page = client.get("/", headers=_bearer(tokens.read)).text
    table = page[page.index('id="traders"') :]
    row = table[table.index(f">{quiet}<") :].split("</tr>")[0]
    assert "BLIND" in row and "never" in row
    metrics = client.get("/metrics", headers=_bearer(tokens.read)).text
    blind = {
        s.labels.get("trader"): s.value
        for f in text_string_to_metric_families(metrics)
        for s in f.samples
        if s.name in ("lightspeed_trader_blind", "lightspeed_blind_traders")
    }
    assert blind == {quiet: 1, TRADER: 0, None: 1}
