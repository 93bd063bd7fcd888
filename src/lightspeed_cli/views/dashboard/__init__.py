"""The local web dashboard: overview, per-trader edge kept, /metrics; served from the package.

Read-only over the journal (so it works with or without a running bot, paper too); pause,
resume and close-all only with the control token, through the control door (steering/).
"""
