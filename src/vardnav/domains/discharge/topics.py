"""The discharge coordination's subscription topics (R5 backport pattern), as data: the app
registers them with the subscriptions engine (`vardnav.main`), so that a municipality's or
primary-care unit's own system can subscribe to, say, the notices for its residents:
criteria = `NOTICES`, filterCriteria `Task?owner=Organization/<the municipality>`.

Notifications go through the same access rules as any read (see the subscriptions engine).
"""

from __future__ import annotations

from typing import Any

from vardnav.domains.discharge import codes as c

BASE = f"{c.BASE}/SubscriptionTopic"
NOTICES = f"{BASE}/discharge-notice"
MESSAGES = f"{BASE}/discharge-message"
CASES = f"{BASE}/discharge-case"

TOPICS: list[dict[str, Any]] = [
    {"url": NOTICES, "resource_type": "Task", "interactions": ("create", "update"),
     # Sent notices only: a draft is the hospital's own business until it is sent.
     "fhirpath": f"code.coding.where(system = '{c.PROCESS}' and "
                 f"code = '{c.ADMISSION_NOTICE}').exists() and status != 'draft'",
     "filters": ("owner", "status", "business-status", "patient"),
     "title": "Discharge notices to a receiver",
     "description": "An admission notice to a municipality or primary-care unit is sent, "
                    "acknowledged, completed or cancelled (filter on owner = the receiver)"},
    {"url": MESSAGES, "resource_type": "Communication", "interactions": ("create",),
     "fhirpath": f"category.coding.where(system = '{c.PROCESS}').exists()",
     "filters": ("recipient", "category", "subject"),
     "title": "Discharge coordination messages",
     "description": "A message of the process (admission notice, planning information, "
                    "ready for discharge, withdrawn, SIP call, discharge information) is "
                    "sent (filter on recipient = the receiver, category = the kind)"},
    {"url": CASES, "resource_type": "Task", "interactions": ("create", "update"),
     "fhirpath": f"code.coding.where(system = '{c.PROCESS}' and code = '{c.CASE}').exists()",
     "filters": ("requester", "owner", "business-status", "status", "patient"),
     "title": "Discharge cases",
     "description": "A stay's discharge case is opened or changes state (filter on "
                    "requester = the hospital, owner = the ward)"},
]
