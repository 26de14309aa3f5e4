"""Senders: one async, typed, retrying client per push vendor, on one HTTP base.

Every sender is an async context manager (``async with FcmSender(...) as fcm:``)
owning one pooled aiohttp session (or using the one you pass), and raises only the
``SendError`` subclasses of ``pullkin.errors`` — each with the vendor's ``code``
and a ``request_id``.  Message models live with their vendor
(``pullkin.senders.fcm.Message``, ``pullkin.senders.azure.Installation`` …); the
shared machinery is ``pullkin.senders._http``.
"""

from __future__ import annotations

from pullkin.senders._http import BatchResult, RetryPolicy, SendResult
from pullkin.senders.azure import AzureNotificationHub
from pullkin.senders.baidu import BaiduSender
from pullkin.senders.fcm import FcmSender
from pullkin.senders.hms import HmsSender
from pullkin.senders.umeng import UmengSender
from pullkin.senders.webpush import WebPushSender

__all__ = [
    "AzureNotificationHub",
    "BaiduSender",
    "BatchResult",
    "FcmSender",
    "HmsSender",
    "RetryPolicy",
    "SendResult",
    "UmengSender",
    "WebPushSender",
]
