"""Ruby guide, "Structured Outputs with Streaming": a schema in, validated data out.

    python examples/guide/09_structured_outputs.py

One marshmallow schema describes the JSON asked for (sent as ``response_format``) and
validates what comes back. As in the Ruby gem the text streams live and is parsed after the
stream ends: ``response.structured_output``. With ``auto_heal_responses=True`` a reply that does
not validate is sent to a healer model. The Rx way adds ``partial_json()`` (the object filling
in while it streams) and ``structured_output()`` (one validated value at the end).
"""

from __future__ import annotations

from typing import Any

import reactivex
from marshmallow import Schema, fields
from reactivex import Observable
from reactivex import operators as ops

import openrouter_rx as orx
from openrouter_rx import operators as orx_ops
from openrouter_rx.testing import CompletionReply, StreamReply, completion_body, demo_client, text_chunks

MESSAGES = [{"role": "user", "content": "Create a user: John Doe, 30, john@example.com"}]
USER_JSON = '{"name": "John Doe", "age": 30, "email": "john@example.com"}'


class UserSchema(Schema):
    """The user object (all fields required)."""

    name = fields.String(required=True)
    age = fields.Integer(required=True)
    email = fields.Email(required=True)


def callback_way(client: orx.Client, offline: bool) -> None:
    streaming_client = orx.StreamingClient(client=client)
    response = streaming_client.stream_complete(
        MESSAGES, model="openai/gpt-4o", response_format=UserSchema, accumulate_response=True
    )
    assert response is not None
    user_data = response.structured_output  # parsed and validated once, on first access
    print(f"User: {user_data['name']}, Age: {user_data['age']}")

    # Auto-healing: the reply says "thirty"; the healer model (a non-streaming request) fixes it.
    if offline:
        healing_client = orx.StreamingClient(client=client, auto_heal_responses=True, healer_model="openai/gpt-4o-mini")
        response = healing_client.stream_complete(MESSAGES, model="openai/gpt-4o", response_format=UserSchema)
        assert response is not None
        print(f"healed: {response.content!r} -> {response.structured_output}")


def rx_way(client: orx.Client) -> None:
    def both(chunks: Observable[orx.Chunk]) -> Observable[tuple[list[Any], Any]]:
        # publish(mapper): one request, two views, both subscribed before it is sent
        return reactivex.zip(
            chunks.pipe(orx_ops.partial_json(), ops.to_list()), chunks.pipe(orx_ops.structured_output(UserSchema))
        )

    progress, user = (
        client.stream(MESSAGES, model="openai/gpt-4o", response_format=UserSchema).pipe(ops.publish(both)).run()
    )
    for snapshot in progress[:: max(1, len(progress) // 3)]:
        print(f"  partial_json: {snapshot}")
    print(f"structured_output: {user}")


def main() -> None:
    with demo_client() as (client, fake):
        if fake is not None:
            broken = '{"name": "John Doe", "age": "thirty", "email": "john@example.com"}'
            fake.enqueue(
                StreamReply(text_chunks(USER_JSON, pieces=5)),
                StreamReply(text_chunks(broken, pieces=5)),
                CompletionReply(completion_body(USER_JSON)),  # the healer's answer
                StreamReply(text_chunks(USER_JSON, pieces=5)),
            )
        print("== the callback way")
        callback_way(client, offline=fake is not None)
        print("== the Rx way")
        rx_way(client)


if __name__ == "__main__":
    main()
