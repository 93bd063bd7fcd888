"""`lightspeed selftest`: each assumption the bot makes about Bybit, checked on the user's own
account (testnet or demo) through the bot's own execution code, PASS / FAIL / WARN / SKIP.

The facts behind the checks are in shared/api/bybit_ccxt.md (section 5: orders that lag in the
lists or show in the history only, IOC market orders that end Cancelled with a part filled, a
cursor on the last page, a multi-coin unified wallet, 110072 on a reused orderLinkId). The test
opens the smallest order the market allows on a liquid symbol nobody holds, and always tries to
leave that symbol flat: the last check says loudly when it could not.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lightspeed_cli.decisions.fate import is_final
from lightspeed_cli.execution.base import BrokerError, ExecutionOutcome, ExecutionResult
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.execution.markets import fmt
from lightspeed_cli.execution.orders import order_request
from lightspeed_cli.execution.selftest_verdicts import (
    MAX_CLOCK_SKEW_MS,
    RESCUES,
    UTA_STATUSES,
    Check,
    CheckResult,
    SelftestOptions,
    SelftestReport,
    Status,
    fill_verdict,
    key_verdict,
    market_verdict,
    paging_verdict,
    percentile_ms,
    round_trip_verdict,
    smallest_qty,
)
from lightspeed_cli.models import Fill, FollowerPosition, MarketInfo, OrderIntent, Side, SignalKind


class _Stop(Exception):
    """A check failed that the later ones need."""


class Selftest:
    """Runs the checks in order; `make_broker` builds a fresh BybitBroker on the keys under
    test (a second one plays the restarted bot)."""

    def __init__(
        self,
        make_broker: Callable[[], BybitBroker],
        *,
        network: str,
        url: str,
        options: SelftestOptions | None = None,
    ) -> None:
        self.make_broker = make_broker
        self.options = options or SelftestOptions()
        self.report = SelftestReport(network=network, url=url, started_at=datetime.now(UTC))
        self._tag = uuid.uuid4().hex[:12]
        self._symbol: str | None = None
        self._market: MarketInfo | None = None
        self._opened = False  # an open was sent: the finally makes sure the symbol is flat

    # ---- bookkeeping --------------------------------------------------------------------

    def record(self, check: Check, status: Status, detail: str, ms: float | None = None) -> None:
        rounded = None if ms is None else round(ms, 1)
        self.report.checks.append(
            CheckResult(name=check.value, status=status, detail=detail, ms=rounded)
        )

    async def timed(self, step: Awaitable[Any]) -> tuple[Any, float]:
        start = time.perf_counter()
        value = await step
        return value, (time.perf_counter() - start) * 1000

    def link_id(self, what: str) -> str:
        """Not one of the bot's ids (order_ids.is_bot_order): reconciliation leaves it be."""
        return f"selftest-{self._tag}-{what}"

    # ---- entry ----------------------------------------------------------------------------

    async def run(self) -> SelftestReport:
        broker = self.make_broker()
        failed: str = ""
        try:
            await self._checks(broker)
        except _Stop as stop:
            failed = str(stop)
        except Exception as exc:  # never a traceback: the report says where it stopped
            current = self._next_check()
            if current is not None:
                self.record(current, Status.FAIL, broker.classify(exc).message)
            failed = current.value if current else "selftest"
        finally:
            await self._leave_flat(broker)
            await broker.aclose()
        done = {c.name for c in self.report.checks}
        for check in Check:
            if check.value not in done:
                why = f"not run: '{failed}' failed first" if failed else "not run"
                self.record(check, Status.SKIP, why)
        order = {c.value: n for n, c in enumerate(Check)}
        self.report.checks.sort(key=lambda c: order[c.name])
        self.report.finished_at = datetime.now(UTC)
        return self.report

    def _next_check(self) -> Check | None:
        done = {c.name for c in self.report.checks}
        return next((c for c in Check if c.value not in done and c is not Check.FLAT), None)

    def _fail(self, check: Check, detail: str, ms: float | None = None) -> None:
        self.record(check, Status.FAIL, detail, ms)
        raise _Stop(check.value)

    async def _checks(self, broker: BybitBroker) -> None:
        await self._clock(broker)
        await self._key(broker)
        await self._account(broker)
        await self._markets(broker)
        price = await self._equity(broker)
        await self._settings(broker)
        opened = await self._open(broker, price)
        await self._duplicate(broker, opened)
        await self._paging(broker)
        await self._close(broker)
        await self._round_trips(broker)

    # ---- account and market checks --------------------------------------------------------

    async def _clock(self, broker: BybitBroker) -> None:
        """Skew from the quickest of a few reads of Bybit's time (NTP's way): the first one
        also pays for the connection, which would pass for skew."""
        samples: list[tuple[float, float]] = []  # (round trip ms, skew ms)
        for _ in range(3):
            sent = time.time() * 1000
            try:
                server, ms = await self.timed(broker.server_time())
            except BrokerError as exc:
                self._fail(Check.CLOCK, f"{self.report.url}: {exc.message}")
            samples.append((ms, server.timestamp() * 1000 - (sent + time.time() * 1000) / 2))
        ms, skew = min(samples)
        self.report.measurements["clock_skew_ms"] = round(skew, 1)
        status = Status.PASS if abs(skew) <= MAX_CLOCK_SKEW_MS else Status.FAIL
        fix = "" if status is Status.PASS else ": sync the clock (NTP), Bybit refuses it (10002)"
        self.record(Check.CLOCK, status, f"{self.report.url}: clock {skew:+.0f} ms{fix}", ms)

    async def _key(self, broker: BybitBroker) -> None:
        try:
            info, ms = await self.timed(broker.request("privateGetV5UserQueryApi"))
        except BrokerError as exc:
            if exc.outcome is ExecutionOutcome.FATAL:
                self._fail(
                    Check.KEY,
                    f"{exc.message}; testnet needs keys made on testnet.bybit.com, demo needs"
                    " Demo Trading keys (`lightspeed keys set bybit`)",
                )
            self.record(Check.KEY, Status.SKIP, f"query-api not answered here: {exc.message}")
            return
        status, detail = key_verdict(info)
        self.record(Check.KEY, status, detail, ms)
        if status is Status.FAIL:
            raise _Stop(Check.KEY.value)

    async def _account(self, broker: BybitBroker) -> None:
        try:
            info, ms = await self.timed(broker.request("privateGetV5AccountInfo"))
        except BrokerError as exc:
            self.record(Check.UTA, Status.SKIP, f"account/info not answered here: {exc.message}")
            return
        raw = info.get("unifiedMarginStatus")
        status = Status.PASS if str(raw).isdigit() and int(raw) in UTA_STATUSES else Status.FAIL
        text = f"unifiedMarginStatus {raw}, margin mode {info.get('marginMode', '?')}"
        if status is Status.FAIL:
            text += ": the bot trades a unified trading account; upgrade it on Bybit"
        self.record(Check.UTA, status, text, ms)

    async def _markets(self, broker: BybitBroker) -> None:
        try:
            _, ms = await self.timed(broker.start())
        except BrokerError as exc:
            if not broker.markets:
                self._fail(Check.MARKETS, exc.message)
            self._pick_market(broker)
            self._fail(Check.POSITION_MODE, exc.message)
        self._pick_market(broker)
        mode = "hedge" if broker.hedge_mode else "one-way"
        self.record(Check.POSITION_MODE, Status.PASS, f"{mode}, as bybit.account_mode says", ms)

    def _pick_market(self, broker: BybitBroker) -> None:
        listed = [s for s in self.options.symbols if s in broker.markets]
        if not listed:
            self._fail(
                Check.MARKETS,
                f"none of {', '.join(self.options.symbols)} is a trading USDT perpetual here"
                f" ({len(broker.markets)} parsed)",
            )
        status, detail = market_verdict(broker.markets[listed[0]])
        self.record(Check.MARKETS, status, f"{len(broker.markets)} USDT perpetuals; {detail}")
        if status is Status.FAIL:
            raise _Stop(Check.MARKETS.value)

    async def _equity(self, broker: BybitBroker) -> Decimal:
        """The unified wallet's totalEquity, and a symbol nobody holds that it can trade."""
        equity, ms = await self.timed(broker.equity_usdt())
        if equity <= 0:
            self._fail(Check.EQUITY, "totalEquity is 0: fund the account first", ms)
        held = {p.symbol for p in await broker.positions()}
        free = [s for s in self.options.symbols if s in broker.markets and s not in held]
        if not free:
            self._fail(
                Check.EQUITY,
                f"totalEquity {fmt(equity)} USD, but {', '.join(sorted(held))} already hold"
                " positions: the self-test does not touch them; close them or pass --symbol",
                ms,
            )
        self._symbol = self.report.symbol = free[0]
        self._market = broker.markets[free[0]]
        price = await broker.last_price(free[0])
        need = smallest_qty(self._market, price) * price / Decimal(self.options.leverage)
        if equity < 2 * need:
            self._fail(
                Check.EQUITY,
                f"totalEquity {fmt(equity)} USD: the smallest {free[0]} order needs about"
                f" {need:.2f} USDT of margin at {self.options.leverage}x; fund the account",
                ms,
            )
        self.record(Check.EQUITY, Status.PASS, f"totalEquity {fmt(equity)} USD (all coins)", ms)
        return price

    async def _settings(self, broker: BybitBroker) -> None:
        symbol, leverage = self._symbol, self.options.leverage
        for check, step in (
            (Check.MARGIN_MODE, lambda: broker.prepare(None)),
            (Check.LEVERAGE, lambda: broker.prepare(symbol, leverage)),
        ):
            try:
                made, ms = await self.timed(step())
            except BrokerError as exc:
                self._fail(check, exc.message)
            what = (
                broker.settings.margin_mode.value if check is Check.MARGIN_MODE else f"{leverage}x"
            )
            self.record(check, Status.PASS, f"{what} ({made} request(s))", ms)
        again = self.make_broker()  # the restarted bot sends both again
        try:
            await again.start()
            made, ms = await self.timed(again.prepare(symbol, leverage))
        except BrokerError as exc:
            self._fail(Check.NOT_MODIFIED, exc.message)
        finally:
            await again.aclose()
        self.record(
            Check.NOT_MODIFIED,
            Status.PASS,
            f"margin mode and {leverage}x sent again ({made} request(s)): Bybit's 'not modified'"
            " (110043 / 110025 / 110026) or OK, taken as success",
            ms,
        )

    # ---- the order ------------------------------------------------------------------------

    def _intent(self, what: str, qty: Decimal, price: Decimal, *, close: bool) -> OrderIntent:
        return OrderIntent(
            trader="selftest",
            signal_kind=SignalKind.CLOSE if close else SignalKind.OPEN,
            binance_symbol=str(self._symbol),
            symbol=str(self._symbol),
            side=Side.LONG,
            order_side="sell" if close else "buy",
            quantity=qty,
            reduce_only=close,
            leverage=self.options.leverage,
            reference_price=price,
            client_order_id=self.link_id(what),
            journaled_at=datetime.now(UTC),
        )

    async def _open(self, broker: BybitBroker, price: Decimal) -> OrderIntent:
        assert self._market is not None
        qty = smallest_qty(self._market, price)
        intent = self._intent("open", qty, price, close=False)
        started = time.perf_counter()
        self._opened = True
        result, ms = await self.timed(broker.execute(intent))
        what = f"buy {fmt(qty)} {self._symbol} (market, {self.options.leverage}x)"
        if result.outcome is ExecutionOutcome.FILLED or result.acknowledged:
            self.record(Check.ORDER, Status.PASS, f"{what}: {self._ack_text(result)}", ms)
        elif result.not_placed:
            self._fail(Check.ORDER, f"{what}: refused: {result.error}", ms)
        else:
            self.record(Check.ORDER, Status.FAIL, f"{what}: {result.error}", ms)
        fill = await self._listed(broker, intent.client_order_id, started)
        status, detail = fill_verdict(fill or result.fill, qty)
        self.record(Check.FILL, status, detail)
        if status is Status.FAIL:
            raise _Stop(Check.FILL.value)
        return intent

    @staticmethod
    def _ack_text(result: ExecutionResult) -> str:
        if result.fill is not None:
            return f"order {result.fill.order_id} {result.fill.status}"
        return f"acknowledged, not listed yet ({result.error})"

    async def _listed(self, broker: BybitBroker, link_id: str, started: float) -> Fill | None:
        """Ask both lists until each shows the order (final) or the timeout: the time each
        took after the create was sent. Bybit may list an order late, or in history only."""
        symbol = str(self._symbol)
        seen: dict[str, float] = {}
        fill: Fill | None = None
        deadline = started + self.options.listing_timeout
        while time.perf_counter() < deadline:
            for name in ("realtime", "history"):
                if name in seen:
                    continue
                found = await broker.listed_in(name, link_id, symbol)
                if found is not None:
                    seen[name] = (time.perf_counter() - started) * 1000
                    fill = found if fill is None or is_final(found) else fill
            if len(seen) == 2 and fill is not None and is_final(fill):
                break
            await asyncio.sleep(self.options.poll_every)
        timeout = f"not within {self.options.listing_timeout:g} s"
        parts = [
            f"{n} after {seen[n]:.0f} ms" if n in seen else f"{n}: {timeout}"
            for n in ("realtime", "history")
        ]
        self.report.measurements["listed_ms"] = {n: round(v, 1) for n, v in seen.items()}
        if not seen:
            self.record(
                Check.LISTED,
                Status.FAIL,
                f"in neither list {timeout} after the create: the bot would call it lost",
            )
            return None
        note = "" if len(seen) == 2 else " (listed in one list only: the bot asks both)"
        self.record(Check.LISTED, Status.PASS, "; ".join(parts) + note, min(seen.values()))
        return fill

    async def _paging(self, broker: BybitBroker) -> None:
        pages: list[list[dict[str, Any]]] = []
        start = time.perf_counter()
        async for page in broker.position_pages(limit=1):
            pages.append(page)
            if len(pages) >= 10 or not page:
                break
        bot_view = await broker.positions(page_size=1)
        status, detail = paging_verdict(pages, bot_view, str(self._symbol))
        self.record(Check.PAGING, status, detail, (time.perf_counter() - start) * 1000)

    async def _close(self, broker: BybitBroker) -> None:
        """Everything the symbol holds (it held nothing before the open), reduce-only."""
        symbol = str(self._symbol)
        held = [p for p in await broker.positions() if p.symbol == symbol]
        if not held:
            self._fail(Check.CLOSE, f"position/list shows no {symbol} position to close")
        size = sum((p.size for p in held), Decimal(0))
        intent = self._intent("close", size, Decimal(0), close=True)
        start = time.perf_counter()
        result = await broker.execute(intent)
        what = f"reduce-only sell {fmt(size)}"
        if result.outcome is not ExecutionOutcome.FILLED and not result.acknowledged:
            self._fail(Check.CLOSE, f"{what}: {result.outcome.value}: {result.error}")
        left = await self._held_after(broker, start)
        ms = (time.perf_counter() - start) * 1000
        if left:
            self._fail(Check.CLOSE, f"{symbol} still holds {fmt(left[0].size)} after the close", ms)
        how = "filled" if result.outcome is ExecutionOutcome.FILLED else "acknowledged"
        self.record(
            Check.CLOSE, Status.PASS, f"{what} {how}: position/list shows {symbol} flat", ms
        )

    async def _held_after(self, broker: BybitBroker, start: float) -> list[FollowerPosition]:
        """The symbol's positions once flat, or as they stand at the listing timeout (Bybit
        is the truth: an acknowledged close counts when position/list shows it)."""
        symbol = str(self._symbol)
        while True:
            held = [p for p in await broker.positions() if p.symbol == symbol]
            if not held or time.perf_counter() - start > self.options.listing_timeout:
                return held
            await asyncio.sleep(self.options.poll_every)

    async def _duplicate(self, broker: BybitBroker, opened: OrderIntent) -> None:
        """The open sent again, body and orderLinkId unchanged, as the bot resends after a lost
        answer. Should Bybit take it, the close that follows closes both."""
        request = order_request(opened, opened.quantity, broker.hedge_mode)
        start = time.perf_counter()
        try:
            response = await broker.exchange.privatePostV5OrderCreate(request)
        except Exception as exc:
            info = broker.classify(exc)
            ms = (time.perf_counter() - start) * 1000
            if info.duplicate:
                self.record(
                    Check.DUPLICATE,
                    Status.PASS,
                    f"{info.message}: the bot takes it as 'Bybit has the order' and looks it up",
                    ms,
                )
            else:
                self.record(
                    Check.DUPLICATE,
                    Status.FAIL,
                    f"answered {info.message}, not 110072: a resend after a lost answer could"
                    " become a second order",
                    ms,
                )
            return
        ms = (time.perf_counter() - start) * 1000
        order_id = (response.get("result") or {}).get("orderId", "?")
        self.record(
            Check.DUPLICATE,
            Status.FAIL,
            f"Bybit ACCEPTED a second order {order_id} under the same orderLinkId: a resend"
            " after a lost answer would double the order",
            ms,
        )

    async def _round_trips(self, broker: BybitBroker) -> None:
        public: list[float] = []
        private: list[float] = []
        for _ in range(max(1, self.options.round_trips)):
            public.append((await self.timed(broker.server_time()))[1])
            private.append((await self.timed(broker.equity_usdt()))[1])
        self.report.measurements["round_trip_ms"] = {
            "public_p50": percentile_ms(public, 0.5),
            "public_max": round(max(public), 1),
            "private_p50": percentile_ms(private, 0.5),
            "private_max": round(max(private), 1),
        }
        status, detail = round_trip_verdict(public, private, broker.settings.recv_window_ms)
        self.record(Check.ROUND_TRIPS, status, detail)

    # ---- always ---------------------------------------------------------------------------

    async def _leave_flat(self, broker: BybitBroker) -> None:
        """The symbol was flat before the open: whatever it holds now is the self-test's."""
        if not self._opened or self._symbol is None:
            self.record(Check.FLAT, Status.PASS, "no order was sent")
            return
        symbol = self._symbol
        try:
            for attempt in range(RESCUES + 1):
                held = [p for p in await broker.positions() if p.symbol == symbol]
                if not held:
                    how = "closed by the clean-up" if attempt else "no position left"
                    self.record(Check.FLAT, Status.PASS, f"{symbol}: {how}")
                    return
                if attempt == RESCUES:
                    break
                size = sum((p.size for p in held), Decimal(0))
                cap = self._market.max_qty if self._market is not None else None
                size = min(size, cap) if cap else size  # one market order's maximum at a time
                await broker.execute(self._intent(f"rescue{attempt}", size, Decimal(0), close=True))
            problem = f"POSITION LEFT OPEN: {symbol} {fmt(held[0].size)} {held[0].side.value}"
        except Exception as exc:
            problem = f"could not confirm {symbol} is flat ({broker.classify(exc).message})"
        self.report.left_open = True
        self.record(Check.FLAT, Status.FAIL, f"{problem}: close it on Bybit now")
