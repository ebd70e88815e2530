"""Tables as a notebook shows them: a missing value reads "–" with a footnote, never ``NaN`` or ``<NA>``."""

from __future__ import annotations

import pandas as pd


class Shown(pd.DataFrame):
    """A DataFrame (every pandas operation still works) whose notebook rendering writes gaps as "–"."""

    _metadata = ["note"]
    note: str = "no value"

    @property
    def _constructor(self):
        return Shown

    def _repr_html_(self) -> str:
        plain = pd.DataFrame(self).astype(object)  # nullable integers print <NA> whatever na_rep says
        html = plain.where(plain.notna(), "–").to_html()
        if self.isna().to_numpy().any():
            html += f'<p style="font-size:85%">– {self.note}</p>'
        return html


def shown(table: pd.DataFrame, note: str = "no value") -> Shown:
    """``table`` rendered with "–" for missing values and ``note`` as the footnote explaining them."""
    out = Shown(table)
    out.note = note
    return out
