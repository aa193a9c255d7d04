"""The one-machine adapters behind ``imagedeploy serve`` (store, secrets, runtime pieces).

The container runtime pieces:

- ``engine``: the ``Engine`` port the runtime uses, its value types, errors and shared rules.
- ``engine_api``: ``EngineApi``, the engine's REST API over its unix socket (podman or docker):
  env values travel in request bodies, registry passwords in one header, never in an argv.
- ``engine_service``: finds the engine's socket, or starts podman's API service and stops it.
- ``health``: the health check of web services (HTTP 2xx/3xx or a TCP connect).
- ``router``: the stable per-service address of web services, a TCP proxy that switches
  backends atomically and drains old connections (zero-downtime deploys).

Modules are imported directly (``from imagedeploy.adapters.local.engine import ...``); this
package imports nothing so that importing one adapter never pays for the others.
"""
