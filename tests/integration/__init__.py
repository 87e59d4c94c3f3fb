"""Integration tests: the real command line and daemon, run in private mount namespaces."""
