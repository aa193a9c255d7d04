"""Pure rules of imagedeploy: no I/O, no clocks, no network."""
