"""Property tests: the invariants the money decisions must keep for every input."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from decision_builders import T0, TRADER, mapping, pos, safety_ctx, signal, snap
from hypothesis import given, settings
from hypothesis import strategies as st

from lightspeed_cli.config.choices import LeveragePolicy, SizingMode
from lightspeed_cli.config.sections import SafetySettings, SizingSettings
from lightspeed_cli.decisions.decide import DecisionContext, decide
from lightspeed_cli.decisions.diff import apply, diff
from lightspeed_cli.decisions.safety import CHECKS, SafetyContext, evaluate
from lightspeed_cli.decisions.sizing import SizedQty, size_order
from lightspeed_cli.models import Side, SignalKind, Snapshot, SymbolMapping

D = Decimal
K = SignalKind
PROPS = settings(max_examples=150, deadline=None)
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")
KEYS = [(sym, side) for sym in SYMBOLS for side in Side]
# Free margin first: closes and reduces, then flips (close + open), then opens and increases.
PHASE = {K.CLOSE: 0, K.REDUCE: 0, K.FLIP: 1, K.INCREASE: 2, K.OPEN: 2}


def thousandths(lo: int, hi: int) -> st.SearchStrategy[Decimal]:
    return st.integers(lo, hi).map(lambda n: D(n) / 1000)


sizes = thousandths(1, 5_000_000)
prices = thousandths(1, 100_000_000)
usdt = thousandths(0, 50_000_000)


@st.composite
def books(draw: st.DrawFn) -> dict[tuple[str, Side], Decimal]:
    keys = draw(st.sets(st.sampled_from(KEYS)))
    return {k: draw(sizes) for k in sorted(keys)}


def to_snapshot(book: dict[tuple[str, Side], Decimal], at=T0) -> Snapshot:
    return snap(*(pos(sym, side, size) for (sym, side), size in book.items()), at=at)


def later(book) -> Snapshot:
    return to_snapshot(book, at=T0 + timedelta(seconds=2))


# --- diff ---------------------------------------------------------------------------------------


@PROPS
@given(books(), books())
def test_applying_diff_with_zero_epsilon_yields_the_new_book(a, b):
    assert apply(to_snapshot(a), diff(to_snapshot(a), later(b), size_epsilon=D(0))) == b


@st.composite
def book_pairs_with_clear_changes(draw: st.DrawFn):
    """b differs from a per key by nothing, or by at least epsilon (0.001) of a's size."""
    a = draw(books())
    b = {}
    for key in KEYS:
        change = draw(st.sampled_from(["same", "scale", "gone", "new"]))
        if key in a and change == "same":
            b[key] = a[key]
        elif key in a and change == "scale":
            factor = draw(st.sampled_from([D("0.001"), D("0.5"), D("0.999"), D("1.001"), D(3)]))
            b[key] = a[key] * factor
        elif key not in a and change == "new":
            b[key] = draw(sizes)
    return a, b


@PROPS
@given(book_pairs_with_clear_changes())
def test_applying_diff_yields_the_new_book_when_changes_reach_epsilon(pair):
    a, b = pair
    signals = diff(to_snapshot(a), later(b), size_epsilon=D("0.001"))
    assert apply(to_snapshot(a), signals) == b


@PROPS
@given(books(), books(), thousandths(0, 200))
def test_applying_diff_is_exact_except_for_changes_below_epsilon(a, b, epsilon):
    result = apply(to_snapshot(a), diff(to_snapshot(a), later(b), size_epsilon=epsilon))
    assert result.keys() == b.keys()
    for key, size in result.items():
        if size != b[key]:
            assert size == a[key] and abs(b[key] - a[key]) < epsilon * a[key]


@PROPS
@given(books())
def test_follow_existing_from_nothing_yields_the_book(b):
    assert apply(None, diff(None, to_snapshot(b), follow_existing=True)) == b
    assert diff(None, to_snapshot(b)) == []


@PROPS
@given(books(), books())
def test_diff_order_and_flip_shape(a, b):
    signals = diff(to_snapshot(a), later(b))
    ranks = [PHASE[s.kind] for s in signals]
    assert ranks == sorted(ranks)
    flipped = {s.symbol for s in signals if s.kind is K.FLIP}
    for s in signals:
        assert s.trader == TRADER
        if s.symbol in flipped:
            assert s.kind is K.FLIP  # a flip is the only signal for its symbol
    assert diff(to_snapshot(a), later(a)) == []


# --- sizing -------------------------------------------------------------------------------------

steps = st.sampled_from([D("0.001"), D("0.01"), D("0.1"), D("0.5"), D(1), D(10)])


@st.composite
def markets(draw: st.DrawFn) -> SymbolMapping:
    step = draw(steps)
    min_qty = step * draw(st.integers(1, 5))
    max_qty = draw(st.none() | st.integers(1, 10_000).map(lambda n: step * n))
    return mapping(
        qty_step=str(step),
        min_qty=str(min_qty),
        max_qty=None if max_qty is None else str(max_qty),
        min_notional=str(draw(thousandths(0, 20_000))),
        qty_scale=str(draw(st.sampled_from([D("0.001"), D(1), D(1000)]))),
    )


sizings = st.builds(
    SizingSettings,
    mode=st.sampled_from(list(SizingMode)),
    value=thousandths(1, 100_000),
    leverage=st.integers(0, 125),
    max_order_notional_usdt=st.sampled_from([D(0), D(10), D(1000), D("12345.678")]),
)


@st.composite
def signals_of(draw: st.DrawFn, kinds: list[SignalKind]):
    kind = draw(st.sampled_from(kinds))
    prev = D(0) if kind is K.OPEN else draw(sizes)
    if kind is K.CLOSE:
        new = D(0)
    elif kind is K.REDUCE:
        new = prev * draw(st.integers(1, 999)) / 1000
    elif kind is K.INCREASE:
        new = prev * draw(st.integers(1001, 5000)) / 1000
    else:
        new = draw(sizes)
    return signal(kind, prev, new, mark=draw(prices), leverage=draw(st.integers(1, 125)))


@PROPS
@given(
    signals_of([K.OPEN, K.INCREASE]),
    sizings,
    markets(),
    usdt,
    sizes,
    st.integers(1, 125),
    st.none() | prices,
)
def test_opening_size_is_on_step_within_caps_and_above_minimums(
    sig, sizing, m, equity, held, leverage, price
):
    r = size_order(
        sig,
        sizing=sizing,
        mapping=m,
        equity_usdt=equity,
        held_qty=held,
        leverage=leverage,
        price=price,
    )
    if not isinstance(r, SizedQty):
        return
    market = m.market
    assert r.quantity % market.qty_step == 0
    assert r.quantity >= market.min_qty
    assert market.max_qty is None or r.quantity <= market.max_qty
    cap = sizing.max_order_notional_usdt
    assert cap == 0 or r.notional_usdt <= cap
    assert r.notional_usdt >= market.min_notional
    px = price if price is not None else sig.position.mark_price * m.price_scale
    assert r.notional_usdt == r.quantity * px


@PROPS
@given(signals_of([K.REDUCE, K.CLOSE]), sizings, markets(), sizes)
def test_reduce_is_on_step_and_within_held_and_close_is_exactly_held(sig, sizing, m, held):
    r = size_order(sig, sizing=sizing, mapping=m, equity_usdt=D(1000), held_qty=held, leverage=10)
    if sig.kind is K.CLOSE:
        assert isinstance(r, SizedQty) and r.quantity == held
    elif isinstance(r, SizedQty):
        assert r.quantity % m.market.qty_step == 0
        assert m.market.min_qty <= r.quantity <= held


# --- safety -------------------------------------------------------------------------------------

safety_settings = st.builds(
    SafetySettings,
    max_price_divergence_bps=thousandths(0, 500_000),
    max_leverage=st.integers(1, 125),
    leverage_policy=st.sampled_from(list(LeveragePolicy)),
    max_position_notional_usdt=thousandths(1, 50_000_000),
    max_total_notional_usdt=thousandths(1, 50_000_000),
    max_open_positions=st.integers(1, 20),
    allow_symbols=st.lists(st.sampled_from(["BTCUSDT", "ETHUSDT"]), max_size=2),
    deny_symbols=st.lists(st.sampled_from(["BTCUSDT", "ETHUSDT"]), max_size=2),
    max_snapshot_age_seconds=st.floats(0.5, 120),
    daily_loss_limit_usdt=thousandths(1, 5_000_000),
)


@st.composite
def safety_contexts(draw: st.DrawFn, with_mapping: bool | None = None) -> SafetyContext:
    has_mapping = draw(st.booleans()) if with_mapping is None else with_mapping
    return safety_ctx(
        binance_mark=draw(thousandths(0, 100_000_000)),
        bybit_last=draw(thousandths(0, 100_000_000)),
        mapping=draw(markets()) if has_mapping else None,
        requested_leverage=draw(st.integers(1, 200)),
        order_notional_usdt=draw(usdt),
        position_notional_usdt=draw(usdt),
        total_notional_usdt=draw(usdt),
        open_positions=draw(st.integers(0, 30)),
        now=T0 + timedelta(milliseconds=draw(st.integers(-1000, 200_000))),
        daily_realized_pnl_usdt=draw(st.integers(-5_000_000, 5_000_000).map(lambda n: D(n) / 1000)),
    )


opening_or_closing = st.sampled_from([K.OPEN, K.INCREASE, K.REDUCE, K.CLOSE])


@PROPS
@given(opening_or_closing, safety_contexts(), safety_settings, st.permutations(CHECKS))
def test_the_order_of_checks_does_not_change_the_verdict(kind, ctx, safety, checks):
    assert evaluate(kind, ctx, safety, checks=checks) == evaluate(kind, ctx, safety)


@PROPS
@given(st.sampled_from([K.REDUCE, K.CLOSE]), safety_contexts(with_mapping=True), safety_settings)
def test_safety_never_refuses_a_reduce_or_close_that_has_a_market(kind, ctx, safety):
    verdict = evaluate(kind, ctx, safety)
    assert verdict.approved
    assert 1 <= verdict.leverage <= safety.max_leverage


@PROPS
@given(
    signals_of([K.CLOSE]),
    safety_contexts(with_mapping=True),
    safety_settings,
    sizings,
    sizes,
    st.sampled_from([None, "the license was revoked"]),
)
def test_a_close_is_never_refused(sig, sctx, safety, sizing, held, license_refusal):
    ctx = DecisionContext(
        mapping=sctx.mapping,
        bybit_last=sctx.bybit_last,
        equity_usdt=D(0),
        held_qty=held,
        open_positions=sctx.open_positions,
        total_notional_usdt=sctx.total_notional_usdt,
        position_notional_usdt=sctx.position_notional_usdt,
        daily_realized_pnl_usdt=sctx.daily_realized_pnl_usdt,
        now=sctx.now,
        client_order_id="ls-close-1",
    )
    d = decide(sig, ctx, sizing=sizing, safety=safety, license_refusal=license_refusal)
    assert d.approved and d.intent is not None
    assert d.intent.quantity == held and d.intent.reduce_only
