"""API Gateway HTTP API (payload v2) → the same powertools resolver ``imagedeploy serve`` uses:
``/v1/...`` and the deploy hook ``/deploy/{serviceId}`` (GET and POST). Requests only write
state and enqueue jobs (SQS); they never wait on ECS, and on a registry only within the short
``request_registry_budget_seconds`` (verify, an image change)."""

from __future__ import annotations

from typing import Any

from imagedeploy.handlers._common import logger, traced


def _base_url(event: dict[str, Any], configured: str) -> str:
    if configured:
        return configured.rstrip("/")
    domain = (event.get("requestContext") or {}).get("domainName") or ""
    return f"https://{domain}" if domain else ""


@logger.inject_lambda_context(clear_state=True)
@traced
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from imagedeploy import aws_bootstrap

    app = aws_bootstrap.app()
    if app.resolver is None:
        from imagedeploy.api.app import build_resolver
        from imagedeploy.api.deps import ApiDeps, request_ports

        deps = ApiDeps(
            request_ports(app.ports, app.settings),
            _base_url(event, app.settings.api_base_url),
            apps_base_url=app.settings.apps_base_url,
            log_reader=app.log_reader(),
            session_secret=app.dashboard_session_secret,
            session_seconds=app.settings.dashboard_session_seconds,
        )
        app.resolver = build_resolver(deps)
    result: dict[str, Any] = app.resolver.resolve(event, context)
    return result
