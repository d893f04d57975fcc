"""The WebSocket ``quotes`` item of an unknown symbol, built from a template for speed, is
exactly what the wire model gives for every requested text (and a quote item never shares
state with the next one)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trading.wire.market import quote_data
from trading.ws.feeds import quote_item


@given(st.text())
def test_an_unknown_symbol_item_is_the_models_item(requested: str) -> None:
    item = quote_item(requested, None)
    assert item == quote_data(requested, None).model_dump(mode="json")
    assert list(item) == list(quote_data(requested, None).model_dump(mode="json"))


def test_items_are_independent() -> None:
    first = quote_item("A", None)
    first["n"] = "changed"
    assert quote_item("B", None)["n"] == "B"
