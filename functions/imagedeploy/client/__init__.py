"""The client side of imagedeploy's API: an HTTP client with typed errors, the user's profiles,
output formatting and the deploy progress display the ``imagedeploy`` remote commands use."""
