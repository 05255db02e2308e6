"""Staff and resident sign-in for the authorisation server: pages at `/login`, a signed
session cookie, and `current_sign_in(request, settings)` for the OAuth endpoints."""

from vardnav.domains.identity.signin.session import LOGIN_PATH, SignIn, current_sign_in

__all__ = ["LOGIN_PATH", "SignIn", "current_sign_in"]
