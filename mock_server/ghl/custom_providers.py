"""A location's custom payment provider: created, configured (live and/or test keys), disconnected and
deleted. One provider per location; HTTP-free (the handlers live in responses/custom_providers.py)."""

from __future__ import annotations

from dataclasses import dataclass

from mock_server.clock import SandboxClock
from mock_server.ghl.errors import InvalidOperation
from mock_server.ghl.models import CustomProvider
from mock_server.ids import IdFactory
from mock_server.store import Condition, Store

NOT_FOUND = "Custom provider not found"  # refusals answer 400, as GHL's payments service does


@dataclass(frozen=True)
class ProviderFields:
    name: str
    description: str
    payments_url: str
    query_url: str
    image_url: str
    supports_subscription_schedule: bool


@dataclass(frozen=True)
class Keys:
    api_key: str
    publishable_key: str


class CustomProviders:
    def __init__(self, store: Store, clock: SandboxClock, ids: IdFactory) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids

    def find(self, location_id: str) -> CustomProvider | None:
        return self.store.table(CustomProvider).find_one("location_id", location_id)

    def get(self, location_id: str) -> CustomProvider:
        record = self.find(location_id)
        if record is None:
            raise InvalidOperation(NOT_FOUND)
        return record

    def create(self, location_id: str, company_id: str, app_id: str, fields: ProviderFields) -> CustomProvider:
        """Creates the location's provider; creating again updates its details and keeps its configurations."""
        with self.store.transaction():
            now = self.clock.now()
            record = self.find(location_id)
            if record is None:
                record = CustomProvider(
                    id=self.ids.object_id(), location_id=location_id, company_id=company_id, marketplace_app_id=app_id,
                    name=fields.name, description=fields.description, payments_url=fields.payments_url,
                    query_url=fields.query_url, image_url=fields.image_url,
                    supports_subscription_schedule=fields.supports_subscription_schedule, created_at=now,
                    updated_at=now)
            else:
                record.name, record.description = fields.name, fields.description
                record.payments_url, record.query_url, record.image_url = (fields.payments_url, fields.query_url,
                                                                           fields.image_url)
                record.supports_subscription_schedule = fields.supports_subscription_schedule
                record.updated_at = now
            self.store.table(CustomProvider).put(record)
        return record

    def delete(self, location_id: str) -> None:
        with self.store.transaction():
            self.store.table(CustomProvider).delete(self.get(location_id).id)

    def connect(self, location_id: str, live: Keys | None, test: Keys | None) -> CustomProvider:
        """Sets the live and/or test keys; a mode not given keeps what it had."""
        with self.store.transaction():
            record = self.get(location_id)
            if live is not None:
                record.live = {"api_key": live.api_key, "publishable_key": live.publishable_key}
            if test is not None:
                record.test = {"api_key": test.api_key, "publishable_key": test.publishable_key}
            record.updated_at = self.clock.now()
            self.store.table(CustomProvider).put(record)
        return record

    def disconnect(self, location_id: str, live_mode: bool) -> CustomProvider:
        with self.store.transaction():
            record = self.get(location_id)
            mode = "live" if live_mode else "test"
            if getattr(record, mode) is None:
                raise InvalidOperation(f"No {mode} config is connected for this custom provider")
            setattr(record, mode, None)
            record.updated_at = self.clock.now()
            self.store.table(CustomProvider).put(record)
        return record

    def set_capabilities(self, app_id: str, supports_subscription_schedules: bool, *, location_id: str | None = None,
                         company_id: str | None = None) -> int:
        """Updates the app's provider of one location, or every provider the app has in one company.
        Answers how many providers changed; a location without a provider is refused."""
        with self.store.transaction():
            if location_id is not None:
                records = [self.get(location_id)]
            else:
                records = self.store.table(CustomProvider).all(
                    [Condition("company_id", "=", company_id), Condition("app_id", "=", app_id)])
            now = self.clock.now()
            for record in records:
                record.supports_subscription_schedule = supports_subscription_schedules
                record.updated_at = now
            self.store.table(CustomProvider).put_many(records)
        return len(records)

