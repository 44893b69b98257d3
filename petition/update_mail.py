"""The email that carries a petition's update to one signer who asked for updates.

(Placeholder: the message proper, with its unsubscribe link and headers, replaces it.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .database import Row, Transaction
from .mailer import Mail
from .settings import Settings


async def message_for(
    tx: Transaction,
    settings: Settings,
    *,
    petition: Row,
    update: Mapping[str, Any],
    contact_key: str,
    address: str,
) -> Mail:
    """Inside a write: the update's email to `address`, the confirmed updates address stored
    under `contact_key`. `update` holds at least "id", "title" and "body"."""
    return Mail(address, f"{petition['title']}: {update['title']}", str(update["body"]))
