"""AWS adapters: the only package that imports boto3 (and botocore).

Among them: ``dynamodb_store`` (``DynamoStore``, the ``Store`` port on one DynamoDB table, and
``TABLE_DEFINITION``, the table ``template.yaml`` must declare) and ``secrets``
(``SecretsManagerSecretStore``, the ``SecretStore`` port on Secrets Manager, one secret per
registry credential in the shape ECS ``repositoryCredentials`` reads; its ``arn_of`` is what the
ECS runtime puts in task definitions).

Every adapter takes its boto3 **client** as an argument (created lazily, with the default
session, only when none is given): tests pass a moto-backed client, a benchmark passes one with
botocore event hooks that count calls, a handler passes one it configured (region, retries,
timeouts). Modules are imported directly and boto3 is imported only when a client is created, so
importing one adapter never pays for the others on a Lambda cold start.
"""
