"""The loop: follow leaders, mirror their changes, track orders; reconcile beside it."""
