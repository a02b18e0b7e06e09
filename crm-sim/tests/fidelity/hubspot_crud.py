"""hubspot-api-client: create, read, update, archive, list; CRM objects and engagements."""

from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects.calls import (
    AssociationSpec, PublicAssociationsForObject, PublicObjectId,
    SimplePublicObjectInputForCreate as CallInput)

from common import answer, error_of, hubspot

client = hubspot()
contacts = client.crm.contacts.basic_api
created = contacts.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
    properties={"email": "ada@example.com", "firstname": "Ada"}))
read = contacts.get_by_id(created.id, properties=["email", "firstname"])
updated = contacts.update(created.id, simple_public_object_input=SimplePublicObjectInput(
    properties={"firstname": "Augusta"}))
page = contacts.get_page(limit=10)
call = client.crm.objects.calls.basic_api.create(simple_public_object_input_for_create=CallInput(
    properties={"hs_timestamp": "2024-05-01T10:00:00Z", "hs_call_title": "Intro",
                "hs_call_direction": "OUTBOUND", "hs_call_duration": "60000"},
    associations=[PublicAssociationsForObject(
        to=PublicObjectId(id=created.id),
        types=[AssociationSpec(association_category="HUBSPOT_DEFINED",
                               association_type_id=194)])]))
contacts.archive(created.id)
answer({
    "id": created.id,
    "read_email": read.properties["email"],
    "read_archived": read.archived,
    "created_at_type": type(read.created_at).__name__,
    "updated_name": updated.properties["firstname"],
    "listed": [r.id for r in page.results],
    "call_title": call.properties["hs_call_title"],
    "call_timestamp": call.properties["hs_timestamp"],
    "archived_read": error_of(lambda: contacts.get_by_id(created.id)),
})
