#!/usr/bin/env python3
"""Verifies webhook deliveries with the standardwebhooks library (PyPI).

Reads a JSON object {"secret": "whsec_...", "deliveries": [{"headers": {...},
"body": "..."}]} on stdin; prints a JSON list with, per delivery, "ok" and
the verified payload (or the library's error). Used by the API tests: the
signatures keyward makes must verify with a library nobody here wrote.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

request = json.load(sys.stdin)
hook = Webhook(request["secret"])
results = []
for d in request["deliveries"]:
    try:
        payload = hook.verify(d["body"], d["headers"])
        results.append({"ok": True, "payload": payload})
    except Exception as e:  # noqa: BLE001 - report any refusal
        results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
json.dump(results, sys.stdout)
