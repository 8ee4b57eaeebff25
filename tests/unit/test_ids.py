"""Global ids: the bulk encoder gives the same ids as ``encode`` (service.api.ids)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.api import ids

INT64 = st.integers(min_value=0, max_value=2**63 - 1)


@given(INT64, INT64)
def test_the_bulk_encoder_gives_the_ids_encode_gives(version: int, key: int) -> None:
    assert ids.encoder("TargetNode", version)(key) == ids.encode("TargetNode", version, key)
    assert ids.parse(ids.encoder("TargetNode", version)(key)) == ("TargetNode", (version, key))


@given(INT64)
def test_the_bulk_encoder_without_prefix(member: int) -> None:
    assert ids.encoder("Member")(member) == ids.encode("Member", member)
