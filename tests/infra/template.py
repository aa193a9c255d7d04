"""Load ``template.yaml`` (and ``infra/*.yaml``) as plain data.

CloudFormation's short-form tags (``!Ref``, ``!Sub``, ``!GetAtt``, ``!If``, ...) become the long
form a JSON template would have (``{"Ref": ...}``, ``{"Fn::Sub": ...}``, ``{"Fn::GetAtt":
[resource, attribute]}``), so tests read dicts, lists and strings only. Also here: SAM
``Globals`` merged into a function's properties, and the table as ``create_table`` keyword
arguments (for moto-backed tests that build the table from the template).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
INFRA_DIR = ROOT / "infra"

# Short tag -> long form. "Ref" and "Condition" keep their names; everything else is Fn::<Name>.
_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Condition",
    "Contains",
    "EachMemberEquals",
    "EachMemberIn",
    "Equals",
    "FindInMap",
    "GetAZs",
    "GetAtt",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Ref",
    "RefAll",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
    "ValueOf",
    "ValueOfAll",
)


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that also understands CloudFormation's short-form tags."""


def _long_name(tag: str) -> str:
    return tag if tag in ("Ref", "Condition") else f"Fn::{tag}"


def _construct(name: str) -> Any:
    def construct(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt":  # !GetAtt Resource.Attribute.Maybe.Dotted
                resource, _, attribute = str(value).partition(".")
                value = [resource, attribute]
            elif name == "Fn::GetAZs" and value is None:
                value = ""
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _tag in _TAGS:
    CfnLoader.add_constructor(f"!{_tag}", _construct(_long_name(_tag)))


def loads(text: str) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into plain data."""
    data = CfnLoader(text).get_single_data()
    if not isinstance(data, dict):
        raise ValueError("a template is a mapping at its top level")
    return data


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """``template.yaml`` (or another template file) as plain data."""
    return loads(path.read_text(encoding="utf-8"))


def is_cloudformation(path: Path) -> bool:
    """Whether a YAML file is a CloudFormation template (``infra/`` also holds other config)."""
    try:
        data = load_template(path)
    except (yaml.YAMLError, ValueError):
        return False
    return "Resources" in data and (
        "AWSTemplateFormatVersion" in data or "Transform" in data or "Parameters" in data
    )


def template_files() -> list[Path]:
    """What cfn-lint checks: ``template.yaml`` and the CloudFormation templates in ``infra/``."""
    return [TEMPLATE_PATH, *(p for p in sorted(INFRA_DIR.glob("*.yaml")) if is_cloudformation(p))]


def resources(template: dict[str, Any], type_: str | None = None) -> dict[str, dict[str, Any]]:
    """Resources by logical id, optionally of one type."""
    found: dict[str, dict[str, Any]] = template.get("Resources", {})
    return {k: v for k, v in found.items() if type_ is None or v.get("Type") == type_}


def _merge(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals merge: maps merge key by key (local wins), lists concatenate, scalars and
    intrinsic functions are replaced by the local value."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in ("Ref", "Condition", *_FN_KEYS)


_FN_KEYS = tuple(f"Fn::{tag}" for tag in _TAGS if tag not in ("Ref", "Condition"))


def function_properties(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every ``AWS::Serverless::Function``'s properties with ``Globals.Function`` merged in."""
    defaults = template.get("Globals", {}).get("Function", {})
    return {
        logical_id: _merge(copy.deepcopy(defaults), copy.deepcopy(res.get("Properties", {})))
        for logical_id, res in resources(template, "AWS::Serverless::Function").items()
    }


def as_list(value: Any) -> list[Any]:
    """A policy element (``Action``, ``Resource``) that may be one value or a list."""
    return value if isinstance(value, list) else [value]


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM identity-policy statement in the template, with where it is: inline role
    policies, managed and standalone policies, and SAM functions' inline ``Policies``."""
    for logical_id, res in resources(template).items():
        props = res.get("Properties", {})
        documents: list[tuple[str, Any]] = []
        if res.get("Type") == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                documents.append((f"{logical_id}/{policy.get('PolicyName')}", policy))
        elif res.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append((logical_id, props))
        elif res.get("Type") == "AWS::Serverless::Function":
            for i, policy in enumerate(as_list(props.get("Policies", []))):
                if isinstance(policy, dict) and "Statement" in policy:
                    documents.append((f"{logical_id}/Policies[{i}]", {"PolicyDocument": policy}))
        for where, holder in documents:
            document = holder.get("PolicyDocument", {})
            for i, statement in enumerate(as_list(document.get("Statement", []))):
                yield f"{where}/{statement.get('Sid', i)}", statement


def create_table_kwargs(
    template: dict[str, Any], logical_id: str = "Table", table_name: str = "imagedeploy"
) -> dict[str, Any]:
    """The template's DynamoDB table as ``client.create_table(**kwargs)`` arguments (keys,
    indexes, billing). TTL is a separate call: ``time_to_live(template)``."""
    props = resources(template)[logical_id]["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return copy.deepcopy(kwargs)


def time_to_live(template: dict[str, Any], logical_id: str = "Table") -> dict[str, Any] | None:
    """The table's ``TimeToLiveSpecification`` (``update_time_to_live`` argument), if any."""
    spec = resources(template)[logical_id]["Properties"].get("TimeToLiveSpecification")
    return copy.deepcopy(spec) if spec else None


def _resolve_policy_ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def function_actions(template: dict[str, Any]) -> dict[str, set[str]]:
    """Function logical id -> every action its role allows (Allow statements; no wildcards in
    this template, checked by test_template)."""
    everything = resources(template)
    actions: dict[str, set[str]] = {}
    for function_id, props in function_properties(template).items():
        role_ref = props["Role"]["Fn::GetAtt"][0]
        role = everything[role_ref]["Properties"]
        documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
        for ref in role.get("ManagedPolicyArns", []):
            name = _resolve_policy_ref(ref)
            if name in everything:
                documents.append(everything[name]["Properties"]["PolicyDocument"])
        allowed: set[str] = set()
        for document in documents:
            for statement in as_list(document.get("Statement", [])):
                if statement.get("Effect") == "Allow":
                    allowed.update(as_list(statement.get("Action", [])))
        actions[function_id] = allowed
    return actions
