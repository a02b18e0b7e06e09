"""Globex's deal stage translation in Python: the twin of the Rust crate in
`plugins/globex-deal-stages`, passing the same fixture cases.

Globex's agent speaks four stages (Prospecting, Engaging, Won, Lost); the
HubSpot stage id depends on the account, the product and the amount. See
the Rust crate's documentation for the table. The chosen stage is checked
against the `dealstage` picklist of Globex's discovered `deals` schema.

Built with `componentize-py --stub-wasi`: the component imports conduit's
`host` interface and nothing else.
"""

from typing import List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

OBJECT = "deals"
FIELD = "dealstage"
UNKNOWN_STAGE = "unknown_stage"


def refuse(message: str) -> Err:
    return Err(types.PluginError(code=UNKNOWN_STAGE, message=message, field=FIELD))


def text(record: types.AgentRecord, name: str) -> Optional[str]:
    for field in record.fields:
        if field.name == name and isinstance(field.value, types.Value_Text):
            return field.value.value
    return None


def number(record: types.AgentRecord, name: str) -> Optional[float]:
    for field in record.fields:
        if field.name == name and isinstance(field.value, types.Value_Number):
            return field.value.value
    return None


def product_key(name: str) -> str:
    """The dataset writes `GTXPro` for `GTX Pro`: compare without spaces or case."""
    return "".join(name.split()).lower()


def is_premium(record: types.AgentRecord) -> bool:
    product = text(record, "product")
    if product is None:
        return False
    premium = host.setting("premium_products")
    if isinstance(premium, types.Value_Multi):
        return any(product_key(p) == product_key(product) for p in premium.value)
    if isinstance(premium, types.Value_Text):
        return product_key(premium.value) == product_key(product)
    return False


def is_committed(record: types.AgentRecord) -> bool:
    amount = number(record, "amount")
    threshold = host.setting("commit_threshold")
    if amount is None or not isinstance(threshold, types.Value_Number):
        return False
    return amount >= threshold.value


def choose_stage(status: str, record: types.AgentRecord) -> str:
    stage = status.strip().lower()
    account = text(record, "account")
    if stage == "won":
        return "closedwon"
    if stage == "lost":
        return "closedlost"
    if stage == "prospecting":
        has_account = account is not None and account.strip() != ""
        return "qualifiedtobuy" if has_account else "appointmentscheduled"
    if stage == "engaging":
        committed = is_premium(record) or is_committed(record)
        return "decisionmakerboughtin" if committed else "presentationscheduled"
    raise refuse(
        f"deal stage `{status}` is not one globex maps; "
        "expected Prospecting, Engaging, Won or Lost"
    )


def check_in_schema(stage: str) -> None:
    schema = host.schema(OBJECT)
    fields = [f for f in (schema.fields if schema else []) if f.name == FIELD]
    if not fields:
        raise refuse(f"the `{OBJECT}` schema has no `{FIELD}` field to check `{stage}`")
    allowed = [v.value for v in fields[0].picklist_values if v.active]
    if stage not in allowed:
        raise refuse(f"stage `{stage}` is not a value of `{FIELD}`; allowed: {', '.join(allowed)}")


class Hooks(exports.Hooks):
    def map_record(
        self, record: types.AgentRecord, draft: List[types.CrmWrite]
    ) -> List[types.CrmWrite]:
        return draft

    def map_activity(
        self, activity: types.Activity, draft: List[types.CrmWrite]
    ) -> List[types.CrmWrite]:
        return draft

    def translate_status(
        self, object: str, field: str, status: str, record: types.AgentRecord
    ) -> Optional[types.Value]:
        if object != OBJECT or field != FIELD:
            return None
        stage = choose_stage(status, record)
        check_in_schema(stage)
        host.log(types.LogLevel.DEBUG, f"deal stage `{status}` is `{stage}`")
        return types.Value_Text(stage)

    def map_inbound(
        self, record: types.CrmRecord, draft: types.AgentRecord
    ) -> Optional[types.AgentRecord]:
        return draft
