"""The simulated actions, named once: the simulator, the control plane and the CLI read this list."""

from __future__ import annotations

ORDER_ACTIONS = ("order.create", "order.pay", "order.fail_payment", "order.refund", "order.fulfill", "order.cancel",
                 "order.record_payment")
SUBSCRIPTION_ACTIONS = ("subscription.create", "subscription.renew", "subscription.fail_renewal",
                        "subscription.cancel")
ACTIONS = ORDER_ACTIONS + SUBSCRIPTION_ACTIONS
# Each action but a `create` works on an existing record: the id it needs.
REQUIRED_ID = {**{a: "orderId" for a in ORDER_ACTIONS if a != "order.create"},
               **{a: "subscriptionId" for a in SUBSCRIPTION_ACTIONS if a != "subscription.create"}}
# Subscription periods: what GHL's recurring intervals last, in days (a month is 30 days).
PERIOD_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
