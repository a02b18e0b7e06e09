"""simple-salesforce: what it raises for Salesforce's refusals."""

import os

import requests

from common import answer, error_of, salesforce

sf = salesforce()
lead = sf.Lead.create({"LastName": "Li", "Company": "Co"})
account = sf.Account.create({"Name": "Acme"})
observed = {
    "required": error_of(lambda: sf.Opportunity.create({"Name": "D"})),
    "picklist": error_of(lambda: sf.Opportunity.create(
        {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-01-31",
         "Product__c": "Nope"})),
    "malformed_id": error_of(lambda: sf.Contact.create({"LastName": "x", "AccountId": "x1"})),
    "task_lead_what": error_of(lambda: sf.Task.create(
        {"Subject": "Call", "WhoId": lead["id"], "WhatId": account["id"]})),
    "bad_soql": error_of(lambda: sf.query("SELECT Nope FROM Account")),
    "unknown_object": error_of(lambda: sf.Nope__c.describe()),
}
requests.put(os.environ["SF_URL"] + "/__sim/api-usage", json={"max": 10, "used": 10},
             timeout=10)
observed["limit"] = error_of(lambda: sf.query("SELECT Id FROM Account"))
answer(observed)
