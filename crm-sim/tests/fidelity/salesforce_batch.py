"""simple-salesforce: sObject Collections and Composite through `restful`."""

from common import answer, salesforce

sf = salesforce()
collection = sf.restful("composite/sobjects", method="POST", json={
    "allOrNone": False,
    "records": [
        {"attributes": {"type": "Account"}, "Name": "One"},
        {"attributes": {"type": "Account"}, "Name": "Two", "Bogus__c": 1},
    ],
})
composite = sf.restful("composite", method="POST", json={
    "allOrNone": True,
    "compositeRequest": [
        {"method": "POST", "url": "/services/data/v60.0/sobjects/Account",
         "referenceId": "acct", "body": {"Name": "Three"}},
        {"method": "POST", "url": "/services/data/v60.0/sobjects/Contact",
         "referenceId": "who", "body": {"LastName": "Ng", "AccountId": "@{acct.id}"}},
    ],
})
answer({
    "collection": collection,
    "composite_codes": [r["httpStatusCode"] for r in composite["compositeResponse"]],
    "accounts": sf.query("SELECT Id FROM Account")["totalSize"],
})
