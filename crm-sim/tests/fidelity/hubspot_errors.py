"""hubspot-api-client: what it raises for HubSpot's refusals."""

from hubspot.crm.contacts import SimplePublicObjectInputForCreate
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate as TaskInput

from common import answer, error_of, hubspot

client = hubspot()
contacts = client.crm.contacts.basic_api


def contact(properties):
    return lambda: contacts.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
            properties=properties))


contact({"email": "dup@example.com"})()
tasks = client.crm.objects.tasks.basic_api
answer({
    "duplicate": error_of(contact({"email": "DUP@example.com"})),
    "unknown_property": error_of(contact({"email": "x@example.com", "nope": "1"})),
    "bad_option": error_of(contact({"email": "y@example.com", "lifecyclestage": "king"})),
    "no_timestamp": error_of(lambda: tasks.create(
        simple_public_object_input_for_create=TaskInput(properties={"hs_task_subject": "t"}))),
    "not_midnight": error_of(lambda: client.crm.deals.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
            properties={"dealname": "d",
                        "subscription_expiration_timestamp": "1714557600001"}))),
    "missing": error_of(lambda: contacts.get_by_id("424242")),
})
