"""Lambda entry points (``template.yaml``): thin adapters from AWS events to the use cases,
wired by ``imagedeploy.aws_bootstrap`` once per cold start. Nothing here does work at import
time; use cases and adapters are imported when the first invocation needs them."""
