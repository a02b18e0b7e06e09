"""hubspot-api-client: batch create, read and upsert, with a missing id and a refusal."""

from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputForCreate, BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInputForCreate, SimplePublicObjectId)

from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert, SimplePublicObjectBatchInputUpsert)

from common import answer, error_of, hubspot

batch = hubspot().crm.companies.batch_api
inputs = [SimplePublicObjectBatchInputForCreate(properties={"name": n}) for n in ("A", "B")]
created = batch.create(batch_input_simple_public_object_batch_input_for_create=(
    BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)))
ids = [r.id for r in created.results]
read = batch.read(batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
    inputs=[SimplePublicObjectId(id=i) for i in ids + ["999999"]], properties=["name"]))
bad = [SimplePublicObjectBatchInputForCreate(properties={"name": "C", "nope": "x"})]
contacts = hubspot().crm.contacts.batch_api


def upsert(email, name):
    return SimplePublicObjectBatchInputUpsert(
        id_property="email", id=email, properties={"firstname": name})


first = contacts.upsert(batch_input_simple_public_object_batch_input_upsert=(
    BatchInputSimplePublicObjectBatchInputUpsert(inputs=[upsert("u@example.com", "One")])))
second = contacts.upsert(batch_input_simple_public_object_batch_input_upsert=(
    BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        upsert("u@example.com", "Two"), upsert("v@example.com", "Three")])))
answer({
    "upsert_new": [r.new for r in first.results] + [r.new for r in second.results],
    "upsert_names": [r.properties["firstname"] for r in second.results],
    "status": created.status,
    "created": len(ids),
    "read_names": sorted(r.properties["name"] for r in read.results),
    "read_errors": [e.category for e in (read.errors or [])],
    "refused": error_of(lambda: batch.create(
        batch_input_simple_public_object_batch_input_for_create=(
            BatchInputSimplePublicObjectBatchInputForCreate(inputs=bad)))),
})
