"""Steering the running bot: pause / resume / close-all through one door, Telegram."""
