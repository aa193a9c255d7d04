"""The development kit ``tests/``, ``bench/`` and ``scripts/`` share (see README.md in this
folder): local registries, a token server, offline images, a fault proxy, skopeo helpers, fakes of
the ports, the use-case world, API Gateway events, the moto AWS stack, containers and the
``imagedeploy serve`` driver. It never imports ``tests``.
"""
