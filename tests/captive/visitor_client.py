"""Run inside the visitor's network namespace: what a phone does, step by step.

Prints one JSON object: every probe's answer before and after accepting, name
resolution, and what a hard-coded foreign address answers.  Standard library only.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import sys
import time
import urllib.parse

PROBES = [
    ("connectivitycheck.gstatic.com", "/generate_204"),
    ("captive.apple.com", "/hotspot-detect.html"),
    ("www.msftconnecttest.com", "/connecttest.txt"),
    ("detectportal.firefox.com", "/success.txt"),
    ("nmcheck.gnome.org", "/check_network_status.txt"),
]


def fetch(
    host: str,
    path: str,
    method: str = "GET",
    body: str | None = None,
    connect_to: str | None = None,
) -> dict[str, object]:
    conn = http.client.HTTPConnection(connect_to or host, 80, timeout=10)
    headers = {"Host": host, "User-Agent": "CaptiveNetworkSupport-visitor-test"}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return {
        "status": response.status,
        "location": response.getheader("Location"),
        "body": data.decode("utf-8", "replace"),
    }


def probe_all() -> dict[str, object]:
    return {host: fetch(host, path) for host, path in PROBES}


def main() -> None:
    portal = sys.argv[1]  # the portal's name, e.g. booture.lan
    report: dict[str, object] = {
        "resolved": {
            name: socket.gethostbyname(name)
            for name in ("connectivitycheck.gstatic.com", "captive.apple.com", portal)
        },
    }
    report["before"] = probe_all()
    welcome = fetch(portal, "/")
    token = re.search(r'name="jeton" value="([^"]+)"', str(welcome["body"]))
    assert token, welcome
    report["enter"] = fetch(
        portal, "/captive/enter", "POST", urllib.parse.urlencode({"jeton": token.group(1)})
    )
    report["after"] = probe_all()
    # an app with a hard-coded address (a documentation range: no real host)
    report["hardcoded"] = fetch("198.51.100.7", "/", connect_to="198.51.100.7")
    # HTTPS is refused at once, never answered and never left to time out
    began = time.monotonic()
    try:
        socket.create_connection(("198.51.100.7", 443), timeout=5).close()
        report["https"] = "answered"
    except ConnectionRefusedError:
        report["https"] = "refused"
    except OSError as exc:
        report["https"] = f"failed: {exc}"
    report["https_seconds"] = time.monotonic() - began
    print(json.dumps(report))


if __name__ == "__main__":
    main()
