"""What every fidelity script shares: clients pointed at the simulators, and the answer.

The simulators serve plain HTTP on loopback; simple-salesforce always builds https URLs, so
its session sends them to the simulator over http. Nothing else about its requests changes.
"""

import json
import os
import sys

import requests


class Loopback(requests.Session):
    """A session that sends the client's https://HOST requests to http://HOST."""

    def __init__(self, host):
        super().__init__()
        self.host = host

    def request(self, method, url, *args, **kwargs):
        prefix = "https://" + self.host
        if url.startswith(prefix):
            url = "http://" + self.host + url[len(prefix):]
        return super().request(method, url, *args, **kwargs)


def salesforce_token():
    """An access token from the simulator's OAuth refresh grant, as conduit gets one."""
    answer = requests.post(
        os.environ["SF_URL"] + "/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": os.environ["SF_CLIENT_ID"],
            "client_secret": os.environ["SF_CLIENT_SECRET"],
            "refresh_token": os.environ["SF_REFRESH_TOKEN"],
        },
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()


def salesforce(token=None):
    """simple-salesforce on the simulator with `token` (a fresh one if not given)."""
    from simple_salesforce import Salesforce

    url = os.environ["SF_URL"]
    host = url.split("://", 1)[1]
    if token is None:
        token = salesforce_token()["access_token"]
    return Salesforce(
        instance_url=url, session_id=token, version="60.0", session=Loopback(host)
    )


def hubspot(token=None):
    """hubspot-api-client on the simulator with `token` (the private app token if not given)."""
    import hubspot as hs

    return hs.Client.create(
        access_token=token or os.environ["HS_TOKEN"], host=os.environ["HS_URL"]
    )


def error_of(call):
    """Runs `call`; answers (exception class name, status, parsed body) of what it raised."""
    try:
        call()
    except Exception as error:  # the class name is what the test checks
        status = getattr(error, "status", None) or getattr(error, "status_code", None)
        body = getattr(error, "content", None) or getattr(error, "body", None)
        if isinstance(body, (bytes, str)):
            try:
                body = json.loads(body)
            except ValueError:
                pass
        return {"class": type(error).__name__, "status": status, "body": body}
    return None


def answer(observed):
    """Prints what the script saw, for the Rust test to check."""
    json.dump(observed, sys.stdout, default=str)
