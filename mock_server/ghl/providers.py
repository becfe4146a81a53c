"""Payment providers as GHL stores what they answered: connected accounts, charge and subscription ids,
payment methods and the raw provider objects (`chargeSnapshot`, `subscriptionSnapshot`), each in its
provider's own format.

Stripe's and PayPal's shapes follow the official spec's examples (`acct_…`/`sub_…`/`in_…`; PayPal's
`{_id, merchantClientId}` account and `I-…` subscription with `{status: "ACTIVE", id, plan_id,
start_time, quantity, status_update_time}`). Authorize.net (ARB subscriptions, `transId` charges) and
NMI (recurring subscriptions, `transactionid` charges) are modelled on those gateways' own APIs:
plausible, not verified against GHL (DEVIATIONS DEV-V13c).

Connected accounts belong to the location (one per provider, the same on every record); ids and the
values derived for snapshots come from seeded id streams or from the record's own id, never from the
wall clock or Python's `hash`.
"""

from __future__ import annotations

import functools
from typing import Any

from mock_server.clock import iso_ms
from mock_server.ghl.models import Subscription, Transaction
from mock_server.ghl.money import to_major
from mock_server.ids import IdFactory

STRIPE, PAYPAL, AUTHORIZE_NET, NMI, MANUAL = "stripe", "paypal", "authorize-net", "nmi", "manual"


def _digits(ids: IdFactory, n: int) -> str:
    """n decimal digits, the first not zero (gateway ids are numbers)."""
    return str(10 ** (n - 1) + int(ids.object_id(), 16) % (9 * 10 ** (n - 1)))


def _upper(ids: IdFactory, n: int) -> str:
    return ids.provider_ref("", n).upper()


def _derived(kind: str, key: str) -> IdFactory:
    """An id stream of its own for values derived from one record or location (stable, seed-free)."""
    return IdFactory(f"{kind}-{key}")


# The values drawn from derived streams, kept: seeding a stream (a hash of its name) cost more than the
# rest of a transaction's snapshot, and every rendering of the record draws the same values again.
DERIVED_KEPT = 4096


@functools.lru_cache(maxsize=DERIVED_KEPT)
def _derived_upper(kind: str, key: str, n: int) -> str:
    return _upper(_derived(kind, key), n)


@functools.lru_cache(maxsize=DERIVED_KEPT)
def _derived_digits(kind: str, key: str, *sizes: int) -> tuple[str, ...]:
    """Numbers of `sizes` digits drawn in turn from one derived stream."""
    ids = _derived(kind, key)
    return tuple(_digits(ids, n) for n in sizes)


# ---- ids drawn when a record is made ---------------------------------------------------------------


def charge_id(ids: IdFactory, provider: str) -> str:
    if provider == PAYPAL:
        return _upper(ids, 17)  # a capture id, e.g. 5O190127TN364715T
    if provider == AUTHORIZE_NET:
        return _digits(ids, 11)  # transId
    if provider == NMI:
        return _digits(ids, 10)  # transactionid
    if provider == MANUAL:
        return ids.provider_ref("manual_")
    return ids.provider_ref("ch_")


def subscription_id(ids: IdFactory, provider: str) -> str:
    if provider == PAYPAL:
        return "I-" + _upper(ids, 12)  # I-0UE609H8E43P
    if provider == AUTHORIZE_NET:
        return _digits(ids, 9)  # an ARB subscriptionId
    if provider == NMI:
        return _digits(ids, 10)  # a recurring subscription_id
    return ids.provider_ref("sub_", 14)


def connected_account(location_id: str, provider: str) -> dict[str, Any]:
    """The location's merchant account at `provider` (snake_case keys, rendered camelCase)."""
    return dict(_account(location_id, provider))


@functools.lru_cache(maxsize=DERIVED_KEPT)
def _account(location_id: str, provider: str) -> tuple[tuple[str, Any], ...]:
    if provider == MANUAL:
        return ()
    ids = _derived(f"account-{provider}", location_id)
    account: dict[str, Any] = {"_id": ids.object_id()}
    if provider == PAYPAL:
        account["merchant_client_id"] = "A" + ids.provider_ref("", 79)
    elif provider == AUTHORIZE_NET:
        account["api_login_id"] = ids.provider_ref("", 12)
    elif provider == NMI:
        account["merchant_id"] = _digits(ids, 7)
    else:
        account["account_id"] = ids.provider_ref("acct_", 16)
    return tuple(account.items())


def payment_method(provider: str, card: dict[str, str], contact_snapshot: dict[str, Any]) -> dict[str, Any]:
    """How the customer paid: a card for card gateways, the PayPal payer for PayPal (no card)."""
    if provider == PAYPAL:
        payer = _derived_upper("payer", str(contact_snapshot.get("id", "")), 13)
        return {"paypal": {"email": contact_snapshot.get("email", ""), "payerId": payer}}
    return {"card": dict(card)}


def render_account(account: dict[str, Any]) -> dict[str, Any]:
    """`paymentProvider.connectedAccount`: the account's keys in camelCase."""
    out: dict[str, Any] = {}
    for key, value in account.items():
        head, *rest = key.split("_") if key != "_id" else ("_id",)
        out[head + "".join(p.title() for p in rest)] = value
    return out


# ---- raw provider objects, rendered ----------------------------------------------------------------


def _iso_s(ts: float) -> str:
    """PayPal's timestamps: whole seconds, `Z`."""
    return iso_ms(ts)[:19] + "Z"


def _money(minor: int, currency: str) -> str:
    return f"{to_major(minor, currency):.2f}"


_BRAND_DIGIT = {"visa": "4", "mastercard": "5", "amex": "3", "discover": "6"}
_ANET_CARD = {"visa": "Visa", "mastercard": "MasterCard", "amex": "AmericanExpress", "discover": "Discover"}


def charge_snapshot(t: Transaction) -> dict[str, Any]:
    card = t.payment_method.get("card") or {}
    brand, last4 = str(card.get("brand", "")), str(card.get("last4", ""))
    auth = _derived_upper("auth", t.id, 6)
    if t.provider_type == PAYPAL:
        status = {"succeeded": "COMPLETED", "failed": "DECLINED", "pending": "PENDING",
                  "refunded": "REFUNDED"}[t.status]
        if t.status == "succeeded" and t.amount_refunded_minor:
            status = "PARTIALLY_REFUNDED"
        return {"id": t.charge_id, "status": status,
                "amount": {"currency_code": t.currency, "value": _money(t.amount_minor, t.currency)},
                "final_capture": True, "create_time": _iso_s(t.created_at), "update_time": _iso_s(t.updated_at)}
    if t.provider_type == AUTHORIZE_NET:
        response, status = {"succeeded": ("1", "settledSuccessfully"), "refunded": ("1", "settledSuccessfully"),
                            "failed": ("2", "declined"), "pending": ("4", "FDSPendingReview")}[t.status]
        return {"transId": t.charge_id, "submitTimeUTC": _iso_s(t.created_at),
                "transactionType": "authCaptureTransaction", "transactionStatus": status,
                "responseCode": response, "authCode": auth if response == "1" else "",
                "settleAmount": to_major(t.amount_minor, t.currency),
                "payment": {"creditCard": {"cardNumber": f"XXXX{last4}", "cardType": _ANET_CARD.get(brand, brand)}}}
    if t.provider_type == NMI:
        response, text, condition = {"succeeded": ("1", "SUCCESS", "complete"),
                                     "refunded": ("1", "SUCCESS", "complete"),
                                     "failed": ("2", "DECLINE", "failed"),
                                     "pending": ("1", "SUCCESS", "pendingsettlement")}[t.status]
        return {"transactionid": t.charge_id, "type": "sale", "response": response, "responsetext": text,
                "authcode": auth if response == "1" else "", "condition": condition,
                "amount": _money(t.amount_minor, t.currency), "currency": t.currency,
                "cc_number": f"{_BRAND_DIGIT.get(brand, '4')}{'x' * 11}{last4}", "cc_type": brand}
    return {"id": t.charge_id, "object": "charge", "amount": t.amount_minor,
            "amount_refunded": t.amount_refunded_minor, "currency": t.currency.lower(),
            "status": t.status, "paid": t.status in ("succeeded", "refunded"),
            "refunded": t.status == "refunded", "failure_code": t.failure_reason or None}


_PAYPAL_STATUS = {"active": "ACTIVE", "trialing": "ACTIVE", "past_due": "SUSPENDED", "unpaid": "SUSPENDED",
                  "canceled": "CANCELLED", "incomplete": "APPROVAL_PENDING"}
_ARB_STATUS = {"active": "active", "trialing": "active", "past_due": "suspended", "unpaid": "suspended",
               "canceled": "canceled", "incomplete": "suspended"}
# ARB intervals are whole days (7-365) or months (1-12).
_ARB_INTERVAL = {"day": (1, "days"), "week": (7, "days"), "month": (1, "months"), "year": (12, "months")}


def subscription_snapshot(s: Subscription) -> dict[str, Any]:
    if s.provider_type == PAYPAL:
        out: dict[str, Any] = {"status": _PAYPAL_STATUS.get(s.status, "ACTIVE"), "id": s.provider_subscription_id,
                               "plan_id": "P-" + _derived_upper("plan", s.price_id, 24),
                               "start_time": _iso_s(s.created_at), "quantity": 1,
                               "status_update_time": _iso_s(s.updated_at)}
        if s.next_billing_at is not None:
            out["billing_info"] = {"next_billing_time": _iso_s(s.next_billing_at)}
        return out
    if s.provider_type == AUTHORIZE_NET:
        length, unit = _ARB_INTERVAL[s.interval]
        customer, payment = _derived_digits("subscription", s.id, 9, 9)
        return {"id": s.provider_subscription_id, "name": f"Subscription {s.provider_subscription_id}",
                "status": _ARB_STATUS.get(s.status, "active"),
                "amount": to_major(s.amount_minor, s.currency),
                "paymentSchedule": {"interval": {"length": length * s.interval_count, "unit": unit},
                                    "startDate": iso_ms(s.created_at)[:10], "totalOccurrences": 9999,
                                    "trialOccurrences": 0},
                "profile": {"customerProfileId": customer,
                            "paymentProfile": {"customerPaymentProfileId": payment}}}
    if s.provider_type == NMI:
        plan: dict[str, Any] = {"plan_id": _derived_digits("plan", s.price_id, 8)[0], "plan_payments": "0",
                                "plan_amount": _money(s.amount_minor, s.currency)}
        if s.interval in ("month", "year"):
            plan["month_frequency"] = str(s.interval_count * (12 if s.interval == "year" else 1))
            plan["day_of_month"] = iso_ms(s.created_at)[8:10].lstrip("0")
        else:
            plan["day_frequency"] = str(s.interval_count * (7 if s.interval == "week" else 1))
        out = {"subscription_id": s.provider_subscription_id, "plan": plan,
               "completed_payments": str(s.payments_collected)}
        if s.next_billing_at is not None:
            out["next_charge_date"] = iso_ms(s.next_billing_at)[:10].replace("-", "")
        return out
    out = {"id": s.provider_subscription_id, "object": "subscription", "status": s.status,
           "current_period_start": int(s.current_period_start),
           "plan": {"interval": s.interval, "interval_count": s.interval_count,
                    "amount": s.amount_minor, "currency": s.currency.lower()}}
    if s.next_billing_at is not None:
        out["current_period_end"] = int(s.next_billing_at)
    if s.canceled_at is not None:
        out["canceled_at"] = int(s.canceled_at)
    return out
