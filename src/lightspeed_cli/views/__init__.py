"""What the user sees: status, the live view, history, plots."""
