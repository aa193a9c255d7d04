"""imagedeploy: deploy prebuilt container images as services and cron jobs, Render-style."""

__version__ = "0.1.0"
