"""Adapters: the implementations of the ports in ``imagedeploy.ports``.

``adapters.aws`` talks to AWS (the only boto3 user), ``adapters.local`` to one machine (SQLite,
a local container engine, the web router). Adapters import ``imagedeploy.domain`` only, never the
use cases, and nothing imports an adapter except the entry points that wire them in.
"""
