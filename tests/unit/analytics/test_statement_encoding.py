"""One encoding of a statement for its digest and its row (``model.encoded``): the text is the statement's JSON
(stored parts included), and the digest is the content digest, whatever the store sets."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from elearning_core.analytics.model import encoded

_TEXT = st.text(max_size=12)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_STORE_PARTS = st.fixed_dictionaries(
    {}, optional={"stored": _TEXT, "authority": st.dictionaries(_TEXT, _TEXT, max_size=2), "version": _TEXT}
)


@given(
    said=st.dictionaries(_TEXT.filter(lambda k: k not in ("stored", "authority", "version")), _VALUES, max_size=5),
    store=_STORE_PARTS,
)
def test_the_text_is_the_statement_and_the_digest_leaves_out_what_a_store_sets(
    said: dict[str, Any], store: dict[str, Any]
) -> None:
    text, digest = encoded(said | store)
    assert json.loads(text) == said | store
    canonical = json.dumps(said, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert digest == hashlib.sha256(canonical.encode()).hexdigest()
    assert encoded(said)[1] == digest  # the store's parts change the text, never the digest
