"""hubspot-api-client: the OAuth refresh grant, a call with its token, a refused token."""

import os

from hubspot.crm.contacts import SimplePublicObjectInputForCreate

from common import answer, error_of, hubspot

tokens = hubspot().oauth.tokens_api.create(
    grant_type="refresh_token",
    client_id=os.environ["HS_CLIENT_ID"],
    client_secret=os.environ["HS_CLIENT_SECRET"],
    refresh_token=os.environ["HS_REFRESH_TOKEN"],
)
client = hubspot(tokens.access_token)
created = client.crm.contacts.basic_api.create(
    simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
        properties={"email": "oauth@example.com"}))
answer({
    "expires_in": tokens.expires_in,
    "token_type": tokens.token_type,
    "has_refresh": bool(tokens.refresh_token),
    "created_by": created.properties.get("hs_created_by_user_id"),
    "bad_token": error_of(lambda: hubspot("not-a-token").crm.contacts.basic_api.get_page()),
    "bad_refresh": error_of(lambda: hubspot().oauth.tokens_api.create(
        grant_type="refresh_token", client_id=os.environ["HS_CLIENT_ID"],
        client_secret=os.environ["HS_CLIENT_SECRET"], refresh_token="nope")),
})
