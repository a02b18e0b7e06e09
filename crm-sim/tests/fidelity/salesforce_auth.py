"""simple-salesforce: a session from the OAuth refresh grant, describe, limits, expiry."""

import os

import requests

from common import answer, error_of, salesforce, salesforce_token

token = salesforce_token()
sf = salesforce(token["access_token"])
describe = sf.describe()
limits = sf.limits()
requests.post(
    os.environ["SF_URL"] + "/services/oauth2/revoke",
    data={"token": token["access_token"]},
    timeout=10,
)
answer({
    "token_type": token.get("token_type"),
    "instance_url": token.get("instance_url"),
    "sobjects": sorted(o["name"] for o in describe["sobjects"] if o["name"] in
                       ("Account", "Contact", "Lead", "Opportunity", "Event", "Task",
                        "Sales_Activity__c")),
    "api_max": limits["DailyApiRequests"]["Max"],
    "api_usage": sf.api_usage,
    "revoked": error_of(lambda: sf.Account.describe()),
})
