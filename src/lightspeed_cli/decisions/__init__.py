"""Every pure rule of the pipeline: no I/O here, so each is tested without a server."""
