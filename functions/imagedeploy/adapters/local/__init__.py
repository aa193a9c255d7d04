"""The one-machine adapters behind ``imagedeploy serve`` (store, secrets, runtime pieces).

The container runtime pieces:

- ``engine``: ``ContainerEngine``, a typed driver of the podman or docker CLI (pull, run, stop,
  inspect, logs, networks) that keeps env values and registry passwords out of every argv.
- ``health``: the health check of web services (HTTP 2xx/3xx or a TCP connect).
- ``router``: the stable per-service address of web services, a TCP proxy that switches
  backends atomically and drains old connections (zero-downtime deploys).

Modules are imported directly (``from imagedeploy.adapters.local.engine import ...``); this
package imports nothing so that importing one adapter never pays for the others.
"""
