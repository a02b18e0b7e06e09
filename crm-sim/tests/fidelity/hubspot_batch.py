"""hubspot-api-client: batch create and batch read, with a missing id."""

from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputForCreate, BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInputForCreate, SimplePublicObjectId)

from common import answer, error_of, hubspot

batch = hubspot().crm.companies.batch_api
inputs = [SimplePublicObjectBatchInputForCreate(properties={"name": n}) for n in ("A", "B")]
created = batch.create(batch_input_simple_public_object_batch_input_for_create=(
    BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)))
ids = [r.id for r in created.results]
read = batch.read(batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
    inputs=[SimplePublicObjectId(id=i) for i in ids + ["999999"]], properties=["name"]))
bad = [SimplePublicObjectBatchInputForCreate(properties={"name": "C", "nope": "x"})]
answer({
    "status": created.status,
    "created": len(ids),
    "read_names": sorted(r.properties["name"] for r in read.results),
    "read_errors": [e.category for e in (read.errors or [])],
    "refused": error_of(lambda: batch.create(
        batch_input_simple_public_object_batch_input_for_create=(
            BatchInputSimplePublicObjectBatchInputForCreate(inputs=bad)))),
})
