"""The ``imagedeploy`` command."""
