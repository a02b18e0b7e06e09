"""hubspot-api-client: search with a filter, a sort and paging."""

from hubspot.crm.deals import PublicObjectSearchRequest

from common import answer, hubspot

search = hubspot().crm.deals.search_api
request = PublicObjectSearchRequest(
    filter_groups=[{"filters": [
        {"propertyName": "amount", "operator": "GTE", "value": "100"}]}],
    sorts=[{"propertyName": "amount", "direction": "DESCENDING"}],
    properties=["dealname", "amount"], limit=2)
first = search.do_search(public_object_search_request=request)
request.after = first.paging.next.after
second = search.do_search(public_object_search_request=request)
answer({
    "total": first.total,
    "first": [r.properties["dealname"] for r in first.results],
    "second": [r.properties["dealname"] for r in second.results],
    "more": second.paging is not None,
})
