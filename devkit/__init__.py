"""Test infrastructure for real-registry tests (see README.md in this folder).

Modules:
- ``images``: build small, runnable images offline and push them through the registry HTTP API.
- ``registry``: start/stop CNCF distribution (``docker-registry``) in three auth flavours.
- ``token_server``: a Docker token-protocol server whose JWTs the token-auth registry trusts.
- ``fault_proxy``: a counting reverse proxy that can inject 429/5xx, dropped connections, delays.
- ``regclient``: a tiny test-only HTTP client factory with Basic/Bearer challenge handling.
- ``skopeo``: skopeo inspect/copy helpers that never put credentials in error messages.
- ``stack``: the whole stack as one context manager, for benchmarks and scripts.
"""
