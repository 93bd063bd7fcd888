"""What the user must hear: alerts, the webhook, blind-trader detection."""
