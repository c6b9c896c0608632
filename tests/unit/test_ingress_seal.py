"""A channel's sealed proof is ours, not the customer's words: card masking leaves it."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from settle.access import proof as proofs
from settle.privacy.cards import is_card_number, mask_card_numbers
from settle_rasa.ingress import screened

SENDER = "+14155550101"
PROOF = proofs.ChannelProof(kind=proofs.SMS, phone=SENDER, phone_proven=True)


def _secret_whose_seal_looks_like_a_card() -> str:
    """About one HMAC in 10,000 begins with a digit run that passes for a card number (the
    card masker once took it for one; a hex digest is now left alone)."""
    for n in itertools.count():
        secret = f"secret-{n}"
        seal = proofs.seal(PROOF, SENDER, secret)["seal"]
        digits = re.match(r"\d*", seal).group(0)
        if any(is_card_number(digits[:k]) for k in range(13, min(len(digits), 19) + 1)):
            assert mask_card_numbers(seal) == seal
            return secret
    raise AssertionError("unreachable")


def _through_ingress(app, metadata: dict) -> tuple[UserMessage | None, list[str]]:
    seen: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        seen.append(message)
        await message.output_channel.send_text_message(message.sender_id, "ok")

    output = CollectingOutputChannel()
    message = UserMessage("hello", output, SENDER, input_channel="twilio", metadata=metadata)
    asyncio.run(screened(on_new_message)(message))
    return (seen[0] if seen else None), [m.get("text") for m in output.messages]


def test_a_valid_seal_that_looks_like_a_card_number_is_left_alone(app):
    secret = _secret_whose_seal_looks_like_a_card()
    app.settings = dataclasses.replace(app.settings, action_secret=secret)
    metadata = {"MessageSid": "SM1", proofs.METADATA_KEY: proofs.seal(PROOF, SENDER, secret)}
    passed, said = _through_ingress(app, metadata)
    assert proofs.unseal(passed.metadata, SENDER, secret) == PROOF  # still proven
    assert not any("card number" in (text or "") for text in said)


def test_a_forged_proof_is_masked_like_any_client_metadata(app):
    app.settings = dataclasses.replace(app.settings, action_secret="the-real-secret")
    forged = {"claims": {"note": "4111 1111 1111 1111"}, "seal": "0" * 64}
    passed, said = _through_ingress(app, {proofs.METADATA_KEY: forged})
    assert "4111" not in str(passed.metadata)
    assert any("card number" in (text or "") for text in said)
