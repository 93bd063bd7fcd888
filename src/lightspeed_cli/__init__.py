"""LightSpeed: mirror Binance lead traders onto a Bybit USDT-perpetual account."""

__version__ = "0.1.0"
