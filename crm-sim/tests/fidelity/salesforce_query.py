"""simple-salesforce: SOQL with a filter, ordering, and query_all across pages."""

from common import answer, salesforce

sf = salesforce()
some = sf.query("SELECT Id, LastName FROM Contact WHERE LastName IN ('L1', 'L2') "
                "ORDER BY LastName DESC")
first_page = sf.query("SELECT Id FROM Contact")
everything = sf.query_all("SELECT Id, LastName FROM Contact")
answer({
    "some": [r["LastName"] for r in some["records"]],
    "some_total": some["totalSize"],
    "first_page_done": first_page["done"],
    "first_page_rows": len(first_page["records"]),
    "has_next": "nextRecordsUrl" in first_page,
    "all_total": everything["totalSize"],
    "all_rows": len(everything["records"]),
})
