"""Uses the client openapi-python-client generated from /openapi.json (host/tests/api_client.rs):
logs in as the admin, pages GET /admin/users three at a time by cursor, reads a link's
GET /sub/{uuid}/info, and prints what it saw as one JSON object.

Only the generated package and the standard library: whatever the client needs, the document
had to say.

    run.py GENERATED_DIR BASE_URL EMAIL PASSWORD LINK_UUID
"""

import json
import sys

generated, base_url, email, password, link_uuid = sys.argv[1:]
sys.path.insert(0, generated)

from nexuma_core_client import AuthenticatedClient, Client  # noqa: E402
from nexuma_core_client.api.auth import get_admin_users, post_auth_login  # noqa: E402
from nexuma_core_client.api.subscriptions import get_sub_uuid_info  # noqa: E402
from nexuma_core_client.models import (  # noqa: E402
    GetAdminUsersResponse200,
    GetSubUuidInfoResponse200,
    PostAuthLoginBody,
    PostAuthLoginResponse200,
)
from nexuma_core_client.types import UNSET  # noqa: E402

PAGE = 3
MOST_PAGES = 50


def expect(response, model):
    """The parsed answer when it is the operation's success model, else exit with the answer."""
    if not isinstance(response.parsed, model):
        sys.exit(
            f"expected {model.__name__}, got {response.status_code}: "
            f"{response.content.decode(errors='replace')}"
        )
    return response.parsed


public = Client(base_url=base_url, raise_on_unexpected_status=True)
login = expect(
    post_auth_login.sync_detailed(
        client=public, body=PostAuthLoginBody(email=email, password=password)
    ),
    PostAuthLoginResponse200,
)
admin = AuthenticatedClient(
    base_url=base_url, token=login.access_token, raise_on_unexpected_status=True
)

emails, sizes, totals = [], [], set()
after = UNSET
while True:
    if len(sizes) == MOST_PAGES:
        sys.exit(f"still a nextCursor after {MOST_PAGES} pages")
    page = expect(
        get_admin_users.sync_detailed(client=admin, limit=PAGE, after=after),
        GetAdminUsersResponse200,
    )
    sizes.append(len(page.items))
    totals.add(page.total)
    emails.extend(user.email for user in page.items)
    if page.next_cursor is None:
        break
    after = page.next_cursor

info = expect(
    get_sub_uuid_info.sync_detailed(client=public, uuid=link_uuid),
    GetSubUuidInfoResponse200,
)

print(
    json.dumps(
        {
            "loginRole": str(login.user.role),
            "pageSizes": sizes,
            "totals": sorted(totals),
            "emails": emails,
            # Typed fields read through the model, then the model written back as JSON.
            "info": {
                "status": str(info.status),
                "trafficUsedBytes": info.traffic_used_bytes,
                "trafficLimitBytes": None
                if info.traffic_limit_bytes is UNSET
                else info.traffic_limit_bytes,
                "expiresAt": None if info.expires_at is UNSET else info.expires_at,
                "tariff": info.tariff,
            },
            "infoDict": info.to_dict(),
        }
    )
)
