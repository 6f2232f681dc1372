"""The WebSocket fan-out hub against the real Redis: routing by channel, bounded queues."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import redis

from deployments.api.hub import Hub, Subscription, tracking_channel

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.mark.parametrize(
    ("channels", "prefixes", "channel", "expected"),
    [
        (set(), (), "witness:events", False),  # empty interest: nothing
        ({"witness:events"}, (), "witness:events", True),  # exact channel
        ({"witness:events"}, (), "witness:tracking:cam1", False),  # another channel
        (set(), ("witness:tracking:",), "witness:tracking:cam1", True),  # prefix: every camera
        ({"witness:tracking:cam2"}, (), "witness:tracking:cam1", False),  # another camera
    ],
)
def test_subscription_routing(channels, prefixes, channel, expected):
    assert Subscription(frozenset(channels), prefixes).wants(channel) is expected


def test_slow_client_drops_oldest_and_never_blocks():
    sub = Subscription(frozenset({"c"}))
    for i in range(100):
        sub.offer({"i": i})  # never blocks, however far behind the client is
    assert sub.queue.qsize() == 64
    assert sub.dropped == 36
    assert sub.queue.get_nowait() == {"i": 36}  # the oldest were dropped


def test_messages_published_on_redis_reach_interested_clients():
    camera = f"cam-{uuid.uuid4().hex[:6]}"

    async def scenario() -> tuple[dict, int]:
        hub = Hub(REDIS_URL, patterns=(tracking_channel(camera) + "*",))
        publisher = redis.Redis.from_url(REDIS_URL)
        async with hub.subscribe(channels={tracking_channel(camera)}) as wanted, hub.subscribe(
            channels={tracking_channel("other")}
        ) as other:
            for _ in range(50):  # wait until the hub's subscription is live
                if publisher.publish(tracking_channel(camera), json.dumps({"kind": "tracking_update", "n": 1})):
                    break
                await asyncio.sleep(0.1)
            message = await asyncio.wait_for(wanted.queue.get(), timeout=5)
            await asyncio.sleep(0.2)
            other_size = other.queue.qsize()
        await hub.stop()
        return message, other_size

    message, other_size = asyncio.run(scenario())
    assert message == {"kind": "tracking_update", "n": 1}
    assert other_size == 0
