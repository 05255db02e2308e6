"""Typed settings, read from the environment (prefix VARDNAV_). Nothing is created at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VARDNAV_", extra="ignore")

    database_url: str = "sqlite:///./var/vardnav.db"
    base_url: str = "http://127.0.0.1:8080/fhir"
    # Bodies above this are refused with 413 before parsing.
    max_body_bytes: int = 16 * 1024 * 1024
    default_page_size: int = 50
    max_page_size: int = 1000
    # Skatteverket's published test personnummer; the demo falls back to generated numbers.
    testpersonnummer_file: Path = Path("../shared/data/skatteverket-testpersonnummer.txt")
    sql_echo: bool = False
    # Token signing keys (generated on first use; never in the repository).
    key_dir: Path = Path("./var/keys")
    issuer: str = "http://127.0.0.1:8080"
    token_ttl_seconds: int = 3600
    # Threads per server process that run database work (see main.lifespan).
    db_threads: int = 4
    # Sign-in (domains/identity/signin). Guardians see a child's record only while the child
    # is younger than this: 1177 practice, where a guardian's e-access ends at 13 because the
    # child's own integrity then weighs in (and the child may soon use e-services itself).
    guardian_access_max_age: int = 13
    # Patient data law: how long a finished encounter or episode keeps the care relationship,
    # and how long an emergency access lasts.
    care_relationship_days: float = 30
    emergency_access_hours: float = 4
    # Send the session cookie only over HTTPS; off by default for local plain-http use.
    secure_cookies: bool = False
    # Web pages (src/vardnav/web): offer the demo accounts, one per role, on /web/demo. Only
    # for a demo region: it names accounts whose password is public.
    web_demo_signin: bool = False
    # An external OpenID Connect identity provider for staff (SITHS eID in production);
    # unset means password sign-in only. The HSA-id is read from the `oidc_hsa_claim` claim.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_hsa_claim: str = "hsa_id"
    # Access log (domains/access/audit_*.py). Log extracts name the users who accessed the
    # record (public providers must; set False where users are to be left out). The review
    # flags staff who touched more distinct patients in one day than this. The server seals
    # new log rows into the hash chain this often (0: never; `vardnav audit seal` then).
    log_extract_shows_users: bool = True
    audit_review_daily_patients: int = 50
    audit_seal_seconds: float = 1.0
    # PostgreSQL: read entries commit asynchronously unless this is set (see audit_log.py).
    audit_synchronous_reads: bool = False
    # PostgreSQL, while the server runs: read entries are written by a background writer every
    # audit_background_interval seconds (background_reads.py); false: before each answer.
    # 50 ms, not 20: each batch statement has a fixed cost (about 0.2 ms of server CPU,
    # measured), so larger batches cost less per read (bench/README.md, issue 4).
    audit_background_reads: bool = True
    audit_background_interval: float = 0.05
    # HL7 v2 ADT over MLLP (integrations/hl7v2, docs/adt.md). Receivers of outbound messages:
    # comma-separated `name=host:port` (the name is MSH-5; a receiver named like an inbound
    # sender's MSH-3 is not sent that sender's own steps back). The server delivers them
    # while it runs (hl7_deliver; or `vardnav hl7 deliver`) and listens for inbound ADT on
    # hl7_listen_port when set (0: not in `serve`; `vardnav hl7 listen` instead).
    hl7_receivers: str = ""
    hl7_deliver: bool = True
    hl7_listen_host: str = "127.0.0.1"
    hl7_listen_port: int = 0
    hl7_max_frame_bytes: int = 1024 * 1024
    hl7_ack_timeout_seconds: float = 10.0
    # Retry back-off: doubles from the first delay after each failed attempt, up to the cap.
    hl7_retry_first_seconds: float = 1.0
    hl7_retry_max_seconds: float = 300.0
    # How often an idle delivery worker looks for new outbox rows.
    hl7_poll_seconds: float = 0.2
    # Coordinated discharge (domains/discharge, docs/discharge.md). Payment days: the rule
    # (`calendar-days:N[:with-discharge-day][:without-admission-notice]` or
    # `package.module:name`), local agreements per municipality code (JSON object), and the
    # daily amount in SEK per year (JSON object; a year without one uses the latest before).
    discharge_payment_rule: str = "calendar-days:3"
    discharge_payment_rules: dict[str, str] = Field(default_factory=dict)
    discharge_daily_amounts: dict[int, int] = Field(default_factory=lambda: {2019: 7800})
    # FHIR Subscriptions (integrations/subscriptions, docs/subscriptions.md). The server
    # delivers rest-hook notifications while it runs (or `vardnav subscriptions deliver`).
    # A failed notification is retried after a back-off doubling from the first delay up to
    # the cap; after failing for the give-up period the Subscription is set to `error`.
    subscriptions_deliver: bool = True
    subscriptions_poll_seconds: float = 0.1
    subscriptions_retry_first_seconds: float = 5.0
    subscriptions_retry_max_seconds: float = 600.0
    subscriptions_give_up_seconds: float = 86400.0


def get_settings() -> Settings:
    return Settings()
