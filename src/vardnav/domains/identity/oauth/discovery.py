"""What the authorisation server advertises: `/.well-known/smart-configuration` (SMART App
Launch 2.0) and `/.well-known/openid-configuration` (OpenID Connect Discovery). Both list
only what is built."""

from __future__ import annotations

from typing import Any

from vardnav.config import Settings
from vardnav.domains.identity.oauth.backend_services import ASSERTION_ALGORITHMS

GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
AUTH_METHODS = ["client_secret_basic", "private_key_jwt"]
SCOPES = ["openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access",
          "patient/*.rs", "patient/*.cruds", "user/*.rs", "user/*.cruds", "system/*.rs",
          "system/*.cruds", "patient/*.read", "user/*.read", "system/*.read"]
CAPABILITIES = [
    "launch-ehr", "launch-standalone", "authorize-post",
    "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
    "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
    "permission-offline", "permission-online", "permission-patient", "permission-user",
    "permission-v1", "permission-v2", "sso-openid-connect",
]


def endpoints(settings: Settings) -> dict[str, str]:
    root = settings.issuer.rstrip("/")
    return {"authorization_endpoint": f"{root}/oauth/authorize",
            "token_endpoint": f"{root}/oauth/token",
            "introspection_endpoint": f"{root}/oauth/introspect",
            "revocation_endpoint": f"{root}/oauth/revoke",
            "jwks_uri": f"{root}/oauth/jwks"}


def smart_configuration(settings: Settings) -> dict[str, Any]:
    return {
        "issuer": settings.issuer,
        **endpoints(settings),
        "grant_types_supported": GRANT_TYPES,
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "scopes_supported": SCOPES,
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    }


def openid_configuration(settings: Settings) -> dict[str, Any]:
    return {
        "issuer": settings.issuer,
        **endpoints(settings),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce",
                             "fhirUser"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": GRANT_TYPES,
        "authorization_response_iss_parameter_supported": True,
    }
