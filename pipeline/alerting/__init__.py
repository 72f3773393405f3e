"""Alerts: state in Redis, delivery channels and the non-blocking dispatcher."""

from pipeline.alerting.channels import EmailChannel, KafkaChannel, SlackChannel, WebhookChannel
from pipeline.alerting.dispatcher import Dispatcher
from pipeline.alerting.store import AlertNotFound, AlertStore

__all__ = [
    "AlertNotFound",
    "AlertStore",
    "Dispatcher",
    "EmailChannel",
    "KafkaChannel",
    "SlackChannel",
    "WebhookChannel",
]
