"""Use cases: plain functions taking the ports (``Ports``) as their first argument."""
