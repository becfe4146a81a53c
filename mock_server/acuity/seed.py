"""Seeding of the fake Acuity: one account per location, drawn from (seed, location index) only, after
GHL's seeding (it reads the location's GHL contacts, so that Acuity's clients overlap them).

Per location: 2-3 calendars, 4-6 appointment types (one class, one free consult), 1-2 forms, 2-3
products (a package, a gift certificate), a few orders with their certificates, and
`round(200 * orders / 260)` appointments from 6 months before to 4 months after SEED_EPOCH mixing every
payment state (paid, deposit, tip, unpaid, certificate) and every life event (canceled, rescheduled,
no-show), a handful under legacy processors. Clients overlap the GHL contacts in each of the four ways
the design lists, each at least twice.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from faker import Faker

from mock_server.acuity import accounts, queries
from mock_server.acuity.models import (
    LEGACY_PROCESSORS,
    Appointment,
    AppointmentPayment,
    AppointmentType,
    Calendar,
    Certificate,
    Client,
    Form,
    Order,
    ProcessorEntry,
    Product,
)
from mock_server.acuity.views import zone
from mock_server.ghl.models import Contact
from mock_server.ghl.seed import SEED_EPOCH
from mock_server.locations import Location
from mock_server.service import LocationSeed
from mock_server.store import Store

DAY = 86400.0
DEFAULT_ORDERS = 260
APPOINTMENTS_PER_DEFAULT = 200
BEFORE_DAYS = 182  # appointments from ~6 months before SEED_EPOCH
AFTER_DAYS = 122  # to ~4 months after
OVERLAPS = ("same-email", "case-email", "second-email", "same-name")
MIN_EACH_OVERLAP = 2
# Appointment states and their weights (every one is also guaranteed twice, space permitting).
STATES: tuple[tuple[str, int], ...] = (("paid", 34), ("deposit", 12), ("tip", 8), ("unpaid", 18),
                                       ("certificate", 6), ("canceled", 9), ("rescheduled", 8), ("noshow", 5))
PROCESSOR_WEIGHTS: tuple[tuple[str, int], ...] = (("stripe", 55), ("square", 25), ("paypal", 20))
LEGACY_COUNT = 4

CALENDARS = (
    ("Maya Patel", "Treatment Room 1", [0, 1, 2, 3, 4], 9, 17),
    ("Jordan Lee", "Studio A", [0, 1, 2, 3, 4, 5], 8, 16),
    ("Sam Rivera", "Studio B", [1, 2, 3, 4, 5], 10, 18),
)
# name, minutes, price (minor), category, kind
TYPES = (
    ("Free Consultation", 30, 0, "Consults", "service"),
    ("Personal Training", 60, 8500, "Training", "service"),
    ("Group Yoga Class", 60, 2000, "Classes", "class"),
    ("Sports Massage", 90, 12000, "Recovery", "service"),
    ("Nutrition Session", 45, 6500, "Nutrition", "service"),
    ("Follow-up Session", 30, 4500, "Training", "service"),
)
COLORS = ("#6FCF97", "#56CCF2", "#F2994A", "#BB6BD9", "#EB5757", "#F2C94C")
LABELS = ({"id": 1, "name": "Checked In", "color": "green"}, {"id": 2, "name": "Completed", "color": "pink"},
          {"id": 3, "name": "Confirmed", "color": "blue"})
DOMAINS = ("example.com", "mail.example.org", "inbox.example.net", "post.example.io")


@dataclass
class Ids:
    """Integer ids of one location: a block per location, a range per kind (records of different kinds
    may share a value, as in Acuity)."""

    block: int
    counters: dict[str, int]

    OFFSETS = {"calendar": 1_000, "type": 2_000, "form": 3_000, "field": 3_500, "product": 4_000, "order": 50_000,
               "certificate": 60_000, "value": 70_000, "client": 100_000, "appointment": 1_000_000, "class": 5_000}

    def next(self, kind: str) -> int:
        n = self.counters.get(kind, 0) + 1
        self.counters[kind] = n
        return self.block + self.OFFSETS[kind] + n


def appointment_count(orders: int) -> int:
    return round(APPOINTMENTS_PER_DEFAULT * orders / DEFAULT_ORDERS)


def _weighted(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([w[0] for w in weights], weights=[w[1] for w in weights])[0]


def _txn_id(rng: random.Random, processor: str) -> str:
    alnum = string.ascii_letters + string.digits
    upper = string.ascii_uppercase + string.digits
    if processor == "stripe":
        return "pi_" + "".join(rng.choices(alnum, k=24))
    if processor == "square":
        return "".join(rng.choices(alnum, k=22))
    if processor in ("paypal", "paypal_pro"):
        return "".join(rng.choices(upper, k=17))
    if processor == "authorizenet":
        return str(rng.randint(40_000_000_000, 69_999_999_999))
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=8))  # braintree


def _case_variant(email: str) -> str:
    """The same address in other letter case: `jane.doe12@gmail.com` -> `Jane.Doe12@Gmail.com`."""
    local, _, domain = email.partition("@")
    out = ".".join(p[:1].upper() + p[1:] for p in local.split("."))
    out += "@" + domain[:1].upper() + domain[1:]
    return out if out != email else email.upper()


# ---- clients --------------------------------------------------------------------------------------


def _clients(rng: random.Random, fake: Faker, ids: Ids, loc_id: str, contacts: list[Contact],
             wanted: int) -> list[Client]:
    ghl_emails = {c.email.lower() for c in contacts}
    ghl_phones = {c.phone for c in contacts}
    pool = list(contacts)
    rng.shuffle(pool)
    out: list[Client] = []

    def add(first: str, last: str, email: str, phone: str, overlap: str, contact: Contact | None) -> None:
        out.append(Client(id=ids.next("client"), location_id=loc_id, first_name=first, last_name=last, email=email,
                          phone=phone, created_at=SEED_EPOCH - rng.uniform(200, 420) * DAY, overlap=overlap,
                          ghl_contact_id=contact.id if contact else None))

    def fresh_phone() -> str:
        while True:
            phone = f"+1{rng.randint(2012000000, 9899999999)}"
            if phone not in ghl_phones:
                return phone

    def fresh_email(first: str, last: str) -> str:
        while True:
            email = f"{first}.{last}{rng.randint(100, 999)}@{rng.choice(DOMAINS)}".lower()
            if email not in ghl_emails:
                return email

    # The guaranteed overlaps first (while GHL contacts last), then more same-email people, then
    # Acuity-only people, until `wanted`.
    per_kind = max(MIN_EACH_OVERLAP, wanted // 25)
    for kind in OVERLAPS:
        for _ in range(per_kind):
            if not pool:
                break
            c = pool.pop()
            if kind == "same-email":
                add(c.first_name, c.last_name, c.email, c.phone, kind, c)
            elif kind == "case-email":
                add(c.first_name, c.last_name, _case_variant(c.email), c.phone, kind, c)
            elif kind == "second-email":
                add(c.first_name, c.last_name, fresh_email(c.first_name, c.last_name), c.phone, kind, c)
            else:  # a different person who shares the name
                add(c.first_name, c.last_name, fresh_email(c.first_name, c.last_name), fresh_phone(), kind, None)
    extra_same = max(0, wanted // 5 - len(out))
    for _ in range(extra_same):
        if not pool:
            break
        c = pool.pop()
        add(c.first_name, c.last_name, c.email, c.phone, "same-email", c)
    taken_names = {(c.first_name, c.last_name) for c in contacts}
    while len(out) < wanted:
        first, last = fake.first_name(), fake.last_name()
        if (first, last) in taken_names:
            continue
        taken_names.add((first, last))
        add(first, last, fresh_email(first, last), fresh_phone() if rng.random() < 0.9 else "", "acuity-only", None)
    return out


# ---- catalog --------------------------------------------------------------------------------------


def _calendars(rng: random.Random, ids: Ids, loc_id: str, tz: str, slug: str) -> list[Calendar]:
    count = rng.choice((2, 3))
    out = []
    for name, room, days, start, end in CALENDARS[:count]:
        cid = ids.next("calendar")
        handle = name.split()[0].lower()
        out.append(Calendar(id=cid, location_id=loc_id, name=name, email=f"{handle}@{slug}.example.com",
                            reply_to=f"bookings@{slug}.example.com", description=f"{name} ({room})",
                            location=room, timezone=tz, thumbnail="", image=f"//cdn-s.acuityscheduling.com/calendar-{cid}.jpg",
                            work_days=list(days), work_start_hour=start, work_end_hour=end))
    return out


def _types(rng: random.Random, ids: Ids, loc_id: str, calendars: list[Calendar], user_id: int) -> list[AppointmentType]:
    count = rng.randint(4, 6)
    chosen = [TYPES[0], TYPES[2], *rng.sample([TYPES[1], *TYPES[3:]], count - 2)]
    out = []
    for i, (name, minutes, price, category, kind) in enumerate(chosen):
        tid = ids.next("type")
        cal_ids = [c.id for c in calendars] if kind != "class" else [calendars[-1].id]
        out.append(AppointmentType(
            id=tid, location_id=loc_id, name=name, description=f"{name}, {minutes} minutes", duration=minutes,
            price_minor=price, category=category, color=COLORS[i % len(COLORS)], calendar_ids=cal_ids, type=kind,
            class_size=12 if kind == "class" else None, padding_after=rng.choice((0, 0, 15)),
            scheduling_url=f"https://app.acuityscheduling.com/schedule.php?owner={user_id}&appointmentType={tid}"))
    # A retired type (only `includeDeleted=true` lists it).
    out.append(AppointmentType(id=ids.next("type"), location_id=loc_id, name="Intro Offer (retired)",
                               description="No longer offered", duration=45, price_minor=2500, category="Training",
                               color="#999999", calendar_ids=[calendars[0].id], active=False, deleted=True))
    return out


def _forms(rng: random.Random, ids: Ids, loc_id: str, types: list[AppointmentType]) -> list[Form]:
    live = [t for t in types if not t.deleted]
    intake = Form(id=ids.next("form"), location_id=loc_id, name="Client Intake", description="Before your first visit",
                  appointment_type_ids=[t.id for t in live],
                  fields=[{"id": ids.next("field"), "name": "Is this your first visit?", "required": True,
                           "type": "yesno", "options": None},
                          {"id": ids.next("field"), "name": "How did you hear about us?", "required": False,
                           "type": "dropdown", "options": ["Friend", "Google", "Instagram", "Other"]},
                          {"id": ids.next("field"), "name": "Goals", "required": False, "type": "textarea",
                           "options": None}])
    forms = [intake]
    if rng.random() < 0.6:
        paid = [t.id for t in live if t.price_minor > 0]
        forms.append(Form(id=ids.next("form"), location_id=loc_id, name="Health Waiver", description="",
                          appointment_type_ids=paid,
                          fields=[{"id": ids.next("field"), "name": "I accept the waiver", "required": True,
                                   "type": "checkbox", "options": None}]))
    for t in types:
        t.form_ids = [f.id for f in forms if t.id in f.appointment_type_ids]
    return forms


def _products(rng: random.Random, ids: Ids, loc_id: str, types: list[AppointmentType]) -> list[Product]:
    service = [t for t in types if t.price_minor > 0 and t.type == "service" and not t.deleted]
    package_type = service[0]
    out = [
        Product(id=ids.next("product"), location_id=loc_id, name=f"5 x {package_type.name}",
                description=f"A package of five {package_type.name} sessions", price_minor=package_type.price_minor * 9 // 2,
                type="appointments", kind="package", appointment_type_ids=[package_type.id],
                appointment_type_counts={str(package_type.id): 5}, expires=365),
        Product(id=ids.next("product"), location_id=loc_id, name="Gift Certificate $100",
                description="Good for any service", price_minor=10_000, type="product", kind="gift",
                appointment_type_ids=[t.id for t in service]),
    ]
    if rng.random() < 0.5:
        out.append(Product(id=ids.next("product"), location_id=loc_id, name="300 Minute Bundle",
                           description="Minutes for any service", price_minor=40_000, type="minutes", kind="minutes",
                           appointment_type_ids=[t.id for t in service], minutes=300, expires=180))
    return out


def _code(rng: random.Random) -> str:
    return "".join(rng.choices("0123456789ABCDEF", k=8))


# ---- appointments ---------------------------------------------------------------------------------


class Slots:
    """Taken half-hours per calendar, so seeded appointments on one calendar never overlap."""

    def __init__(self) -> None:
        self.taken: set[tuple[int, int]] = set()
        # (zone, day, opening hour, half-hour) -> the start's timestamp: a big world draws the same few
        # thousand starts again and again (building each aware datetime anew was most of its seeding).
        self._starts: dict[tuple[str, date, int, int], float] = {}

    def pick(self, rng: random.Random, cal: Calendar, minutes: int, day_from: float, day_to: float) -> float | None:
        """A start in working hours, free on that calendar; once the window is too full to find one in 60
        draws (a very big world), the next working-hours start even if it overlaps (an admin double booking)."""
        tz = zone(cal.timezone)
        span = (minutes + 29) // 30
        halves = (cal.work_end_hour - cal.work_start_hour) * 2 - span
        if halves < 0 or not cal.work_days:
            return None
        taken, starts, cal_id = self.taken, self._starts, cal.id
        for attempt in range(1000):
            day = datetime.fromtimestamp(SEED_EPOCH + rng.uniform(day_from, day_to) * DAY, tz).date()
            if day.weekday() not in cal.work_days:
                continue
            half = rng.randint(0, halves)
            key = (cal.timezone, day, cal.work_start_hour, half)
            start = starts.get(key)
            if start is None:
                start_local = (datetime(day.year, day.month, day.day, cal.work_start_hour, tzinfo=tz)
                               + timedelta(minutes=30 * half))
                start = starts[key] = start_local.timestamp()
            first = int(start // 1800)
            if attempt < 60 and any((cal_id, first + k) in taken for k in range(span)):
                continue
            taken.update((cal_id, first + k) for k in range(span))
            return start
        return None


@dataclass
class Book:
    """What one seeded appointment is drawn from."""

    client: Client
    state: str
    certificate: Certificate | None = None


def _processor(rng: random.Random, legacy: bool) -> str:
    return rng.choice(LEGACY_PROCESSORS) if legacy else _weighted(rng, PROCESSOR_WEIGHTS)


def seed_account(store: Store, location: Location, seed: int, index: int, orders: int) -> None:
    """(Re)create the Acuity data of one location from (seed, index)."""
    stream = f"acuity-{seed}-{index}"
    rng = random.Random(stream)
    fake = Faker("en_US", use_weighting=False)
    fake.seed_instance(stream)
    loc_id = location.id
    acct = accounts.account(seed, loc_id, index)
    tz = acct.timezone
    ids = Ids(block=(index + 1) * 10_000_000, counters={})
    slug = "".join(ch for ch in location.name.lower() if ch.isalnum())[:16] or "studio"
    contacts = sorted(queries.ghl_contacts(store, loc_id), key=lambda c: c.id)

    calendars = _calendars(rng, ids, loc_id, tz, slug)
    types = _types(rng, ids, loc_id, calendars, acct.user_id)
    forms = _forms(rng, ids, loc_id, types)
    products = _products(rng, ids, loc_id, types)
    n_appts = appointment_count(orders)
    clients = _clients(rng, fake, ids, loc_id, contacts, max(12, n_appts // 2))
    cal_by_id = {c.id: c for c in calendars}
    form_by_id = {f.id: f for f in forms}
    live_types = [t for t in types if not t.deleted]
    paid_types = [t for t in live_types if t.price_minor > 0]
    seq = 0

    ledger: list[ProcessorEntry] = []
    payments: list[AppointmentPayment] = []

    def charge(processor: str, amount: int, at: float, appointment_id: int | None = None,
               order_id: int | None = None) -> str:
        nonlocal seq
        seq += 1
        txn = _txn_id(rng, processor)
        ledger.append(ProcessorEntry(id=txn, location_id=loc_id, kind="charge", amount_minor=amount, processor=processor,
                                     transaction_id=txn, created=at, appointment_id=appointment_id, order_id=order_id,
                                     seq=seq))
        if appointment_id is not None:
            payments.append(AppointmentPayment(id=txn, location_id=loc_id, appointment_id=appointment_id, created=at,
                                               processor=processor, amount_minor=amount, seq=seq))
        return txn

    # Orders (packages and gift certificates, paid in full) and their certificates.
    store_orders: list[Order] = []
    certificates: list[Certificate] = []
    n_orders = rng.randint(3, 6)
    kinds = ["package", "package", "gift", *rng.choices([p.kind for p in products], k=n_orders - 3)]
    for kind in kinds:
        product = next(p for p in products if p.kind == kind)
        buyer = rng.choice(clients)
        at = round(SEED_EPOCH - rng.uniform(20, 170) * DAY)
        oid = ids.next("order")
        processor = _processor(rng, False)
        txn = charge(processor, product.price_minor, at, order_id=oid)
        store_orders.append(Order(id=oid, location_id=loc_id, total_minor=product.price_minor, status="paid", time=at,
                                  first_name=buyer.first_name, last_name=buyer.last_name, email=buyer.email,
                                  phone=buyer.phone, title=product.name, product_ids=[product.id], processor=processor,
                                  transaction_id=txn, notes=rng.choice(("", "", "Please email the code")) ))
        expiration = datetime.fromtimestamp(at + (product.expires or 365) * DAY, zone(tz)).strftime("%Y-%m-%d")
        certificates.append(Certificate(
            id=ids.next("certificate"), location_id=loc_id, certificate=_code(rng), product_id=product.id, order_id=oid,
            appointment_type_ids=list(product.appointment_type_ids), name=product.name, email=buyer.email,
            type={"package": "appointments", "gift": "value", "minutes": "minutes"}[kind],
            remaining_counts=dict(product.appointment_type_counts) if kind == "package" else {},
            remaining_minutes=product.minutes if kind == "minutes" else None,
            remaining_value_minor=product.price_minor if kind == "gift" else None,
            expiration=expiration if product.expires else None))
    packages = [c for c in certificates if c.type == "appointments"]

    # Who books what: every overlap client at least once, each state at least twice, the rest drawn.
    states = [s for s, _ in STATES for _ in range(2)]
    states += [_weighted(rng, STATES) for _ in range(max(0, n_appts - len(states)))]
    states = states[:n_appts]
    rng.shuffle(states)
    overlap_clients = [c for c in clients if c.overlap in OVERLAPS]
    first_by_email: dict[str, Client] = {}  # a certificate's buyer: the first client with its email
    for c in clients:
        first_by_email.setdefault(c.email, c)
    books: list[Book] = []
    for i, state in enumerate(states):
        client = overlap_clients[i] if i < len(overlap_clients) else rng.choice(clients)
        cert = None
        if state == "certificate":
            cert = packages[i % len(packages)]
            client = first_by_email.get(cert.email, client)
        books.append(Book(client, state, cert))
    legacy_slots = set(rng.sample(range(len(books)), min(LEGACY_COUNT, len(books))))

    slots = Slots()
    appts: list[Appointment] = []
    value_id = 0
    for i, book in enumerate(books):
        state = book.state
        if book.certificate is not None:
            atype = next(t for t in types if t.id in book.certificate.appointment_type_ids)
        elif state in ("paid", "deposit", "tip", "certificate"):
            atype = rng.choice(paid_types)
        else:
            atype = rng.choice(live_types)
        cal = cal_by_id[rng.choice(atype.calendar_ids)]
        legacy = i in legacy_slots
        past = state in ("noshow", "certificate", "tip") or legacy or rng.random() < 0.6
        window = (-BEFORE_DAYS, -1.0) if past else (1.0, AFTER_DAYS)
        start = slots.pick(rng, cal, atype.duration, *window)
        if start is None:
            continue
        created = start - rng.uniform(2, 40) * DAY
        if created > SEED_EPOCH:
            created = SEED_EPOCH - rng.uniform(0.2, 20) * DAY
        created = float(round(created))
        aid = ids.next("appointment")
        client = book.client
        a = Appointment(
            id=aid, location_id=loc_id, first_name=client.first_name, last_name=client.last_name, email=client.email,
            phone=client.phone, start=start, duration=atype.duration, created_at=created, appointment_type_id=atype.id,
            type_name=atype.name, category=atype.category, calendar_id=cal.id, calendar_name=cal.name,
            price_minor=atype.price_minor, price_sold_minor=atype.price_minor,
            class_id=ids.next("class") if atype.type == "class" else None, location=cal.location,
            timezone=tz if rng.random() < 0.9 else rng.choice(accounts.TIMEZONES), calendar_timezone=cal.timezone,
            scheduled_by=None if rng.random() < 0.8 else cal.email, legacy=legacy, updated_at=created,
            is_verified=rng.random() < 0.1)
        # Intake answers.
        for fid in atype.form_ids:
            form = form_by_id[fid]
            values = []
            for fld in form.fields:
                value_id += 1
                answer = {"yesno": rng.choice(("yes", "no")), "checkbox": "yes",
                          "dropdown": rng.choice(fld.get("options") or [""]),
                          "textarea": rng.choice(("", "Get stronger", "Recover from an injury", "Lose weight"))}
                values.append({"id": ids.block + ids.OFFSETS["value"] * 10 + value_id, "fieldID": fld["id"],
                               "name": fld["name"], "value": answer.get(fld["type"], "")})
            a.forms.append({"id": form.id, "name": form.name, "values": values})
        if start < SEED_EPOCH and not state.startswith("cancel") and rng.random() < 0.25:
            a.labels = [dict(rng.choice(LABELS))]
        if rng.random() < 0.1:
            a.notes = rng.choice(("Prefers mornings", "Bring a towel", "Referred by a friend"))
        price = a.price_minor
        processor = _processor(rng, legacy)
        first_pay = created + rng.uniform(60, 3600)

        def pay(amount: int, at: float, appt: Appointment = a, proc: str = processor) -> None:
            if amount > 0:
                charge(proc, amount, float(round(at)), appointment_id=appt.id)
                appt.amount_paid_minor += amount

        cert = book.certificate
        if state == "certificate" and cert is not None and cert.remaining_counts.get(str(atype.id), 0) <= 0:
            state = "paid"  # the package is used up: paid by card instead
        if state == "certificate" and cert is not None:
            a.certificate = cert.certificate
            a.paid = True
            cert.remaining_counts[str(atype.id)] -= 1
        elif state == "paid" or (state in ("canceled", "rescheduled", "noshow") and rng.random() < 0.5):
            if rng.random() < 0.3 and price >= 200:
                deposit = price // 4 // 100 * 100 or price // 2
                pay(deposit, first_pay)
                pay(price - deposit, min(start, SEED_EPOCH) - rng.uniform(0, 1) * DAY)
            else:
                pay(price, first_pay)
        elif state == "deposit":
            pay(max(100, price * rng.choice((25, 30, 50)) // 100 // 100 * 100), first_pay)
        elif state == "tip":
            tip = price * rng.choice((10, 15, 20)) // 100 // 100 * 100 or 100
            if rng.random() < 0.5:
                pay(price + tip, start + a.duration * 60 + rng.uniform(60, 7200))
            else:
                pay(price, first_pay)
                pay(tip, start + a.duration * 60 + rng.uniform(60, 7200))
        if price > 0 and a.amount_paid_minor >= price:
            a.paid = True
        if state in ("canceled", "noshow"):
            a.canceled = True
            a.no_show = state == "noshow"
            a.canceled_at = float(round(min(start, SEED_EPOCH) - (0 if a.no_show else rng.uniform(0.1, 1.5) * DAY)))
            if a.no_show:
                a.canceled_at = float(round(start + 3600))
            a.updated_at = a.canceled_at
        elif state == "rescheduled":
            a.rescheduled_from = start - rng.choice((-2, -1, 1, 2, 7)) * DAY
            a.rescheduled_at = float(round(created + rng.uniform(0.1, 1) * DAY))
            a.updated_at = a.rescheduled_at
        appts.append(a)

    # A few processor-side refunds of canceled, paid appointments: the ledger shows them, Acuity never does.
    refundable = [a for a in appts if a.canceled and a.amount_paid_minor > 0 and not a.no_show]
    for a in refundable[:2]:
        paid_txn = next(p for p in payments if p.appointment_id == a.id)
        seq += 1
        ledger.append(ProcessorEntry(id="re_" + paid_txn.id, location_id=loc_id, kind="refund",
                                     amount_minor=paid_txn.amount_minor, processor=paid_txn.processor,
                                     transaction_id=paid_txn.id, created=(a.canceled_at or a.start) + 3600,
                                     appointment_id=a.id, seq=seq))

    with store.transaction():
        for spec_type, records in ((Calendar, calendars), (AppointmentType, types), (Form, forms), (Product, products),
                                   (Client, clients), (Order, store_orders), (Certificate, certificates),
                                   (Appointment, appts), (AppointmentPayment, payments), (ProcessorEntry, ledger)):
            store.table(spec_type).put_many(records)  # type: ignore[arg-type]


def seed_world(store: Store, seed: int, orders: int) -> None:
    """Every location GHL seeded gets its Acuity account's data (run after GHL's seeding)."""
    index = store.get_meta("location_index") or {}
    for location in store.table(Location).all():
        seed_account(store, location, seed, int(index.get(location.id, 0)), location.orders)


def seeded_location(store: Store, spec: LocationSeed) -> Location:
    """The location GHL's seeding (which runs first) just made or re-made for `spec` (the runtime
    passes its id on to the services seeding after the first)."""
    found = store.table(Location).get(spec.location_id) if spec.location_id is not None else None
    if found is None:
        raise LookupError(f"no seeded location for {spec.name!r}")
    return found


def seed_location(store: Store, spec: LocationSeed) -> Location:
    location = seeded_location(store, spec)  # GHL's seeding emptied its location-scoped tables, ours too
    seed_account(store, location, spec.seed, spec.index, location.orders)
    return location
