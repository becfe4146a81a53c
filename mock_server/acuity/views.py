"""Acuity's JSON shapes (fact sheet §2): integer ids, decimal-string money, `paid` "yes"/"no",
colon-less offsets (`2026-10-01T09:00:00-0400`), human dates ("October 1, 2026") and times ("9:00am"),
`duration` a string on appointments and an int on types. Records in, plain dicts out; nothing here
reads the store."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mock_server.acuity.models import (
    AcuityAccount,
    Appointment,
    AppointmentPayment,
    AppointmentType,
    Calendar,
    Certificate,
    Client,
    Form,
    OAuthToken,
    Order,
    ProcessorEntry,
    Product,
)

UTC = ZoneInfo("UTC")


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def local(ts: float, tz: str) -> datetime:
    return datetime.fromtimestamp(ts, zone(tz))


def money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    return f"{sign}{minor // 100}.{minor % 100:02d}"


def iso(ts: float, tz: str) -> str:
    """`2026-10-01T09:00:00-0400`: seconds, a numeric offset without a colon."""
    return local(ts, tz).strftime("%Y-%m-%dT%H:%M:%S%z")


def human_date(ts: float, tz: str) -> str:
    d = local(ts, tz)
    return f"{d:%B} {d.day}, {d.year}"


def human_time(ts: float, tz: str) -> str:
    d = local(ts, tz)
    hour = d.hour % 12 or 12
    return f"{hour}:{d.minute:02d}{'am' if d.hour < 12 else 'pm'}"


def order_time(ts: float, tz: str) -> str:
    return local(ts, tz).strftime("%Y-%m-%d %H:%M")


def confirmation_page(user_id: int, appointment_id: int) -> str:
    digest = hashlib.sha256(f"{user_id}:{appointment_id}".encode()).hexdigest()[:32]
    return f"https://acuityscheduling.com/schedule.php?owner={user_id}&id[]={digest}&action=appt"


def forms_text(forms: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for form in forms:
        lines.append(str(form.get("name") or "Form"))
        lines.append("=" * 20)
        lines.extend(f"{v.get('name', '')}: {v.get('value', '')}" for v in form.get("values", []))
        lines.append("")
    return "\n".join(lines).strip()


def appointment_view(a: Appointment, account: AcuityAccount, exclude_forms: bool = False) -> dict[str, Any]:
    tz = a.calendar_timezone
    end = a.start + a.duration * 60
    out: dict[str, Any] = {
        "id": a.id, "firstName": a.first_name, "lastName": a.last_name, "phone": a.phone, "email": a.email,
        "date": human_date(a.start, tz), "time": human_time(a.start, tz), "endTime": human_time(end, tz),
        "dateCreated": human_date(a.created_at, tz), "datetimeCreated": iso(a.created_at, tz),
        "datetime": iso(a.start, tz),
        "price": money(a.price_minor), "priceSold": money(a.price_sold_minor), "paid": "yes" if a.paid else "no",
        "amountPaid": money(a.amount_paid_minor),
        "type": a.type_name, "appointmentTypeID": a.appointment_type_id, "classID": a.class_id,
        "addonIDs": list(a.addon_ids), "category": a.category, "duration": str(a.duration),
        "calendar": a.calendar_name, "calendarID": a.calendar_id,
        "subCalendarID": a.subcalendar_id if a.subcalendar_id is not None else a.calendar_id,
        "canClientCancel": a.can_client_cancel, "canClientReschedule": a.can_client_reschedule,
        "canceled": a.canceled,
        "location": a.location, "certificate": a.certificate,
        "confirmationPage": confirmation_page(account.user_id, a.id),
        "notes": a.notes, "timezone": a.timezone, "calendarTimezone": a.calendar_timezone,
        "formsText": forms_text(a.forms), "isVerified": a.is_verified, "scheduledBy": a.scheduled_by,
        "labels": [dict(label) for label in a.labels] or None,
    }
    if a.canceled:
        out["noShow"] = a.no_show
    if not exclude_forms:
        out["forms"] = [{**f, "values": [dict(v) for v in f.get("values", [])]} for f in a.forms]
    return out


def payment_view(p: AppointmentPayment, tz: str) -> dict[str, Any]:
    return {"transactionID": p.id, "created": iso(p.created, tz), "processor": p.processor,
            "amount": money(p.amount_minor)}


def client_view(c: Client) -> dict[str, Any]:
    return {"firstName": c.first_name, "lastName": c.last_name, "email": c.email, "phone": c.phone,
            "notes": c.notes}


def appointment_type_view(t: AppointmentType) -> dict[str, Any]:
    return {"id": t.id, "active": t.active, "name": t.name, "description": t.description, "duration": t.duration,
            "price": money(t.price_minor), "category": t.category, "color": t.color, "private": t.private,
            "type": t.type, "classSize": t.class_size, "paddingAfter": t.padding_after,
            "paddingBefore": t.padding_before, "calendarIDs": list(t.calendar_ids), "addonIDs": list(t.addon_ids),
            "formIDs": list(t.form_ids), "image": t.image, "schedulingUrl": t.scheduling_url}


def calendar_view(c: Calendar) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "email": c.email, "replyTo": c.reply_to, "description": c.description,
            "location": c.location, "timezone": c.timezone, "thumbnail": c.thumbnail, "image": c.image}


def order_view(o: Order, tz: str) -> dict[str, Any]:
    return {"id": o.id, "total": money(o.total_minor), "status": o.status, "time": order_time(o.time, tz),
            "firstName": o.first_name, "lastName": o.last_name, "phone": o.phone, "email": o.email,
            "title": o.title, "notes": o.notes}


def certificate_view(c: Certificate, type_names: dict[int, str]) -> dict[str, Any]:
    return {"id": c.id, "certificate": c.certificate, "productID": c.product_id, "orderID": c.order_id,
            "appointmentTypeIDs": list(c.appointment_type_ids),
            "appointmentTypes": {str(i): type_names.get(i, "") for i in c.appointment_type_ids},
            "name": c.name, "email": c.email, "type": c.type, "remainingCounts": dict(c.remaining_counts),
            "remainingMinutes": c.remaining_minutes,
            "remainingValue": money(c.remaining_value_minor) if c.remaining_value_minor is not None else None,
            "expiration": c.expiration}


def product_view(p: Product) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "description": p.description, "price": money(p.price_minor), "type": p.type,
            "hidden": p.hidden, "expires": p.expires, "appointmentTypeIDs": list(p.appointment_type_ids),
            "appointmentTypeCounts": dict(p.appointment_type_counts), "minutes": p.minutes}


def form_view(f: Form) -> dict[str, Any]:
    return {"id": f.id, "name": f.name, "description": f.description, "hidden": f.hidden,
            "appointmentTypeIDs": list(f.appointment_type_ids), "fields": [dict(x) for x in f.fields]}


def me_view(account: AcuityAccount, name: str, email: str) -> dict[str, Any]:
    return {"id": account.user_id, "name": name, "email": email, "timezone": account.timezone,
            "firstDayOfWeek": 0, "timeFormat": "ampm", "currency": account.currency,
            "schedulingPage": f"https://app.acuityscheduling.com/schedule.php?owner={account.user_id}",
            "embedCode": "", "plan": "Powerhouse", "description": ""}


def processor_view(e: ProcessorEntry, tz: str) -> dict[str, Any]:
    return {"transactionID": e.transaction_id, "kind": e.kind, "processor": e.processor,
            "amount": money(e.amount_minor), "appointmentID": e.appointment_id, "orderID": e.order_id,
            "created": iso(e.created, tz)}


def token_view(t: OAuthToken) -> dict[str, Any]:
    return {"access_token": t.id, "token_type": "Bearer"}
