"""GHL workflows: triggers on payment/order/invoice/subscription/refund signals and inbound webhooks,
and their outbound Webhook / Custom Webhook actions."""
