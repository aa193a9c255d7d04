"""Tests of the AWS deployment: template.yaml and infra/*.yaml."""
