"""hubspot-api-client: v4 associations, labeled, default and in batch, and a missing target."""

from hubspot.crm.associations.v4 import (
    AssociationSpec, BatchInputPublicAssociationMultiPost, PublicAssociationMultiPost,
    PublicObjectId)
from hubspot.crm.contacts import SimplePublicObjectInputForCreate
from hubspot.crm.objects.notes import SimplePublicObjectInputForCreate as NoteInput

from common import answer, error_of, hubspot

client = hubspot()
contact = client.crm.contacts.basic_api.create(
    simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
        properties={"email": "grace@example.com"})).id
note = client.crm.objects.notes.basic_api.create(simple_public_object_input_for_create=NoteInput(
    properties={"hs_timestamp": "2024-05-01T00:00:00Z", "hs_note_body": "hi"})).id
other = client.crm.objects.notes.basic_api.create(simple_public_object_input_for_create=NoteInput(
    properties={"hs_timestamp": "2024-05-02T00:00:00Z"})).id
v4 = client.crm.associations.v4
spec = [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=202)]
pair = v4.basic_api.create("notes", note, "contacts", contact, association_spec=spec)
default = v4.basic_api.create_default("notes", other, "contacts", contact)
batch = v4.batch_api.create("notes", "contacts", batch_input_public_association_multi_post=(
    BatchInputPublicAssociationMultiPost(inputs=[PublicAssociationMultiPost(
        _from=PublicObjectId(id=note), to=PublicObjectId(id=contact), types=spec)])))
listed = v4.basic_api.get_page("contacts", contact, "notes")
answer({
    "pair": [pair.from_object_type_id, pair.to_object_type_id],
    "default_type": default.results[0].association_spec.association_type_id,
    "batch_status": batch.status,
    "back_links": sorted((str(r.to_object_id), [t.type_id for t in r.association_types])
                         for r in listed.results),
    "note_ids": sorted([note, other]),
    "missing": error_of(lambda: v4.basic_api.create(
        "notes", note, "contacts", "424242", association_spec=spec)),
})
