"""Alerts: state in Redis, delivery channels and the outbox that delivers them."""

from pipeline.alerting.channels import EmailChannel, KafkaChannel, SlackChannel, WebhookChannel
from pipeline.alerting.deliveries import Delivery, DeliveryStore
from pipeline.alerting.outbox import Outbox
from pipeline.alerting.store import AlertNotFound, AlertStore

__all__ = [
    "AlertNotFound",
    "AlertStore",
    "Delivery",
    "DeliveryStore",
    "EmailChannel",
    "KafkaChannel",
    "Outbox",
    "SlackChannel",
    "WebhookChannel",
]
