"""Settings and the files around them: config file, secrets, data dir, logging, lock."""
