"""The fake Acuity Scheduling's records (plain dataclasses, stored as JSON by `mock_server.store`).

Every record carries `location_id`: an Acuity account is a sandbox location. Ids are integers as Acuity
shows them (payments and processor entries are keyed by the processor's transaction id). Money is kept
in integer minor units (`*_minor`) and only rendered as `"12.50"` strings by `views`. Times are epoch
seconds on the sandbox clock; views render them in the calendar's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROCESSORS = ("stripe", "square", "paypal")
LEGACY_PROCESSORS = ("authorizenet", "braintree", "paypal_pro")


@dataclass(frozen=True)
class AcuityAccount:
    """Derived from the sandbox seed and the location, never stored (`accounts.account`)."""

    location_id: str
    user_id: int  # 8 digits: the Basic-auth user name
    api_key: str  # 32 lowercase hex: the Basic-auth password and the webhook signing key
    oauth_client_id: str
    oauth_client_secret: str
    currency: str
    timezone: str


@dataclass
class Calendar:
    id: int
    location_id: str
    name: str
    email: str
    reply_to: str
    description: str
    location: str
    timezone: str
    thumbnail: str
    image: str
    # Working hours, in the calendar's zone: weekdays (0 = Monday) and [start, end) hours.
    work_days: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    work_start_hour: int = 9
    work_end_hour: int = 17


@dataclass
class AppointmentType:
    id: int
    location_id: str
    name: str
    description: str
    duration: int  # minutes
    price_minor: int
    category: str
    color: str
    calendar_ids: list[int]
    type: str = "service"  # service | class | series
    class_size: int | None = None
    active: bool = True
    private: bool = False
    padding_before: int = 0
    padding_after: int = 0
    addon_ids: list[int] = field(default_factory=list)
    form_ids: list[int] = field(default_factory=list)
    image: str = ""
    scheduling_url: str = ""
    deleted: bool = False


@dataclass
class Form:
    id: int
    location_id: str
    name: str
    description: str
    appointment_type_ids: list[int]
    # [{"id": int, "name": str, "required": bool, "type": str, "options": list[str] | None}]
    fields: list[dict[str, Any]]
    hidden: bool = False


@dataclass
class Product:
    id: int
    location_id: str
    name: str
    description: str
    price_minor: int
    type: str  # appointments (a package) | minutes | product (a gift certificate's value)
    kind: str  # the sandbox's own word: package | gift | minutes
    appointment_type_ids: list[int] = field(default_factory=list)
    appointment_type_counts: dict[str, int] = field(default_factory=dict)
    minutes: int | None = None
    expires: int | None = None  # days, None = never
    hidden: bool = False
    deleted: bool = False


@dataclass
class Client:
    """A person in the account's client list (Acuity exposes no client id; ours is internal)."""

    id: int
    location_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    notes: str = ""
    created_at: float = 0.0
    # How the seed made this client relative to the location's GHL contacts (for tests and the harness):
    # same-email | case-email | second-email | same-name | acuity-only ("" for clients made later).
    overlap: str = ""
    ghl_contact_id: str | None = None


@dataclass
class Appointment:
    id: int
    location_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    start: float  # epoch seconds
    duration: int  # minutes
    created_at: float
    appointment_type_id: int
    type_name: str  # the type's name when booked (`type`)
    category: str
    calendar_id: int
    calendar_name: str
    price_minor: int
    price_sold_minor: int
    amount_paid_minor: int = 0
    paid: bool = False  # shown as "yes"/"no"
    canceled: bool = False
    no_show: bool = False
    class_id: int | None = None
    addon_ids: list[int] = field(default_factory=list)
    can_client_cancel: bool = True
    can_client_reschedule: bool = True
    location: str = ""
    certificate: str | None = None
    notes: str = ""
    timezone: str = "America/New_York"  # the client's zone
    calendar_timezone: str = "America/New_York"
    # [{"id": formId, "name": str, "values": [{"id": int, "fieldID": int, "name": str, "value": str}]}]
    forms: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    is_verified: bool = False
    scheduled_by: str | None = None
    subcalendar_id: int | None = None
    rescheduled_from: float | None = None  # the start before the last reschedule
    rescheduled_at: float | None = None
    canceled_at: float | None = None
    legacy: bool = False  # booked under a legacy processor (before 2024-09-16)
    updated_at: float = 0.0


@dataclass
class AppointmentPayment:
    """One transaction on an appointment (`GET /appointments/:id/payments`). `id` is the processor's
    transaction id (`transactionID`)."""

    id: str
    location_id: str
    appointment_id: int
    created: float
    processor: str
    amount_minor: int
    seq: int = 0


@dataclass
class Order:
    id: int
    location_id: str
    total_minor: int
    status: str  # paid | unpaid | delivered
    time: float  # epoch seconds; shown "YYYY-MM-DD HH:MM" in the account's zone
    first_name: str
    last_name: str
    email: str
    phone: str
    title: str
    notes: str = ""
    product_ids: list[int] = field(default_factory=list)
    processor: str = "stripe"
    transaction_id: str = ""


@dataclass
class Certificate:
    id: int
    location_id: str
    certificate: str  # the code
    product_id: int | None
    order_id: int | None
    appointment_type_ids: list[int]
    name: str
    email: str
    type: str  # appointments | minutes | value
    remaining_counts: dict[str, int] = field(default_factory=dict)
    remaining_minutes: int | None = None
    remaining_value_minor: int | None = None
    expiration: str | None = None  # YYYY-MM-DD


@dataclass
class ProcessorEntry:
    """The processor's ledger (every charge and refund); shown only through the control plane."""

    id: str  # the ledger entry's own id (a charge's is its transaction id; a refund's `re_...`)
    location_id: str
    kind: str  # charge | refund
    amount_minor: int
    processor: str
    transaction_id: str
    created: float
    appointment_id: int | None = None
    order_id: int | None = None
    seq: int = 0


@dataclass
class OAuthGrant:
    """An authorization code from `/acuity/oauth2/authorize` (single use)."""

    id: str  # the code
    location_id: str
    client_id: str
    redirect_uri: str
    created: float
    used: bool = False


@dataclass
class OAuthToken:
    """A bearer token from `/acuity/oauth2/token`."""

    id: str  # the access token
    location_id: str
    client_id: str
    created: float
