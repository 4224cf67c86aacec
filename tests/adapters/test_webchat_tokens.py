"""Web chat tokens: what the WebSocket accepts, and the many tokens it must refuse."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from adapters.crypto.aes_gcm import generate_encoded_key
from adapters.webchat.tokens import JwtVisitorTokens, derive_key
from application.ports.webchat import InvalidVisitorToken
from domain.common.ids import ChannelId, TenantId


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


TENANT = TenantId(uuid.uuid4())
CHANNEL = ChannelId(uuid.uuid4())
SECRET = generate_encoded_key()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def tokens(clock: FixedClock) -> JwtVisitorTokens:
    return JwtVisitorTokens(SECRET, clock, ttl_seconds=900)


def _issue(tokens: JwtVisitorTokens) -> str:
    return tokens.issue(TENANT, CHANNEL, "wgt_test", tokens.new_visitor_id()).token


def test_a_token_names_tenant_channel_widget_and_visitor(tokens: JwtVisitorTokens, clock: FixedClock) -> None:
    visitor = tokens.new_visitor_id()
    issued = tokens.issue(TENANT, CHANNEL, "wgt_test", visitor)

    claims = tokens.verify(issued.token)

    assert (claims.tenant_id, claims.channel_id, claims.widget_id, claims.visitor_id) == (
        TENANT,
        CHANNEL,
        "wgt_test",
        visitor,
    )
    assert claims.expires_at == issued.claims.expires_at
    assert timedelta(seconds=899) <= claims.expires_at - clock.now() <= timedelta(seconds=900)


def test_an_expired_token_is_refused(tokens: JwtVisitorTokens, clock: FixedClock) -> None:
    token = _issue(tokens)
    clock.moment += timedelta(seconds=901)

    with pytest.raises(InvalidVisitorToken) as refused:
        tokens.verify(token)
    assert refused.value.details == {"expired": True}


def test_a_token_of_another_platform_is_refused(clock: FixedClock) -> None:
    foreign = JwtVisitorTokens(generate_encoded_key(), clock)
    token = foreign.issue(TENANT, CHANNEL, "wgt_test", foreign.new_visitor_id()).token

    with pytest.raises(InvalidVisitorToken):
        JwtVisitorTokens(SECRET, clock).verify(token)


def test_a_token_with_edited_claims_is_refused(tokens: JwtVisitorTokens) -> None:
    header, payload, signature = _issue(tokens).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["tid"] = str(uuid.uuid4())  # someone else's tenant
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")

    with pytest.raises(InvalidVisitorToken):
        tokens.verify(f"{header}.{edited}.{signature}")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_unsigned_and_other_algorithm_tokens_are_refused(tokens: JwtVisitorTokens, clock: FixedClock) -> None:
    claims = jwt.decode(_issue(tokens), options={"verify_signature": False})
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    # Right key, wrong algorithm: the algorithm is pinned, not taken from the token's header.
    other_algorithm = jwt.encode(claims, derive_key(SECRET, b"metachat/webchat/token/v1"), algorithm="HS512")

    for token in (unsigned, other_algorithm, "not-a-token", "", "x" * 5000):
        with pytest.raises(InvalidVisitorToken):
            tokens.verify(token)


def test_a_token_for_a_made_up_visitor_id_is_refused(tokens: JwtVisitorTokens) -> None:
    token = tokens.issue(TENANT, CHANNEL, "wgt_test", "v_" + "a" * 38).token

    with pytest.raises(InvalidVisitorToken):
        tokens.verify(token)


def test_only_visitor_ids_this_platform_issued_are_recognised(tokens: JwtVisitorTokens, clock: FixedClock) -> None:
    issued = tokens.new_visitor_id()
    other_platform = JwtVisitorTokens(generate_encoded_key(), clock).new_visitor_id()
    tampered = issued[:-1] + ("A" if issued[-1] != "A" else "B")

    assert tokens.is_issued_visitor_id(issued)
    assert issued != tokens.new_visitor_id()
    for guess in (other_platform, tampered, "visitor-1", "", "v_" + "a" * 38):
        assert not tokens.is_issued_visitor_id(guess)
