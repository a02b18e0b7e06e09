"""simple-salesforce: SOQL with a filter, ordering, query_all across pages, and queryAll
over deleted rows."""

from common import answer, salesforce

sf = salesforce()
some = sf.query("SELECT Id, LastName FROM Contact WHERE LastName IN ('L1', 'L2') "
                "ORDER BY LastName DESC")
first_page = sf.query("SELECT Id FROM Contact")
everything = sf.query_all("SELECT Id, LastName FROM Contact")
gone = sf.query("SELECT Id FROM Contact WHERE LastName = 'L0'")["records"][0]["Id"]
sf.Contact.delete(gone)
live = sf.query("SELECT Id FROM Contact WHERE LastName = 'L0'")
with_deleted = sf.query_all("SELECT Id, IsDeleted FROM Contact WHERE LastName = 'L0'",
                            include_deleted=True)
answer({
    "live_after_delete": live["totalSize"],
    "deleted_rows": [r["IsDeleted"] for r in with_deleted["records"]],
    "some": [r["LastName"] for r in some["records"]],
    "some_total": some["totalSize"],
    "first_page_done": first_page["done"],
    "first_page_rows": len(first_page["records"]),
    "has_next": "nextRecordsUrl" in first_page,
    "all_total": everything["totalSize"],
    "all_rows": len(everything["records"]),
})
