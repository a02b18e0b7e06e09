"""simple-salesforce: create, get, update, upsert and delete, on built-in and custom objects."""

from common import answer, error_of, salesforce

sf = salesforce()
account = sf.Account.create({"Name": "Acme", "External_Id__c": "A-1"})
got = sf.Account.get(account["id"])
updated = sf.Account.update(account["id"], {"Name": "Acme Corp"})
by_key = sf.Account.get_by_custom_id("External_Id__c", "A-1")
upsert_update = sf.Account.upsert("External_Id__c/A-1", {"Name": "Acme Inc"})
upsert_create = sf.Account.upsert("External_Id__c/A-2", {"Name": "Beta"})
contact = sf.Contact.create({"LastName": "Ng", "AccountId": account["id"]})
task = sf.Task.create({"Subject": "Call", "WhoId": contact["id"], "WhatId": account["id"],
                       "TaskSubtype": "Call", "CallDurationInSeconds": 120})
task_row = sf.Task.get(task["id"])
activity = sf.Sales_Activity__c.create({"Contact__c": contact["id"], "Minutes__c": 15})
activity_row = sf.Sales_Activity__c.get(activity["id"])
deleted = sf.Contact.delete(contact["id"])
answer({
    "created": account,
    "got_name": got["Name"],
    "got_type": got["attributes"]["type"],
    "update_status": updated,
    "by_key_name": by_key["Name"],
    "upsert_update": upsert_update,
    "upsert_create": upsert_create,
    "task_status": task_row["Status"],
    "task_priority": task_row["Priority"],
    "task_closed": task_row["IsClosed"],
    "activity_name": activity_row["Name"],
    "delete_status": deleted,
    "gone": error_of(lambda: sf.Contact.get(contact["id"])),
})
