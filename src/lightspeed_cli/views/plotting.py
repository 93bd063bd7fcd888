"""matplotlib, the optional `plot` extra: loaded only when a picture is asked for, with how to
install it when it is missing."""

from __future__ import annotations

from typing import Any

INSTALL_HINT = (
    "--plot needs matplotlib, an optional extra. Installed with pipx: pipx inject lightspeed-cli"
    " matplotlib (or, from the source folder, pipx install --force '.[plot]'); with pip:"
    " pip install 'lightspeed-cli[plot]'"
)


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def require_matplotlib() -> Any:
    """The pyplot module on a file-only backend, or PlotUnavailable with how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable(INSTALL_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
